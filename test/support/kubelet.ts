/** The kubelet's AtomicWriter, as tests use it to swap Secret mounts. */
export { kubeletWrite } from '../../src/atomic-writer.js';
