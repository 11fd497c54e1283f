/**
 * hotcert's public API. Everything else under `src/` is internal.
 */
export {
  createHotcertServer,
  certificatePaths,
  DEFAULT_CERTIFICATE,
  type CertificateLocation,
  type HotcertServer,
  type HotcertServerOptions,
  type TlsBaseOptions,
} from './server.js';
export {
  Reloader,
  type ApplyMaterial,
  type CertificateListener,
  type LiveCertificate,
  type OfferOptions,
  type OfferOutcome,
  type PairStatus,
  type RejectEvent,
  type ReloadEvent,
  type ReloadTrigger,
  type ReloaderOptions,
  type UnchangedEvent,
} from './reloader.js';
export {
  CertificateMaterial,
  REJECTION_REASONS,
  validateMaterial,
  type CandidateFiles,
  type IssuedCrl,
  type PemFile,
  type Rejection,
  type RejectionReason,
  type ValidationResult,
} from './material.js';
export { describeCertificate, type CertificateInfo } from './certificate-info.js';
export { readCandidate, type Candidate, type CertificatePaths } from './read-candidate.js';
export { FileSource, type FileSourceOptions, type CandidateSink } from './file-source.js';
export { HotcertMetrics, type HotcertMetricsOptions } from './metrics.js';
export { CERTIFICATE_EVENT, type CertificateAnnouncement } from './default-app.js';
export { createLogger, type Logger, type LoggerOptions } from './logger.js';
export { ConfigError, ErrorCodes, HotcertError, type ErrorCode } from './errors.js';
export { ExitCode } from './exit-codes.js';
export { parseDuration } from './duration.js';
export { systemClock, type Clock } from './clock.js';
export { checkCertificate, formatReport, type CheckReport, type Finding, type FindingStatus, type MountKind } from './check.js';
export { createKubeApi, loadKubeConfig, kubeConfigSource, KubeApiError, type KubeApi, type KubeConfigSource } from './k8s/kube-api.js';
export { type KubernetesOptions, type SecretReference } from './k8s/kubernetes.js';
export { type PodReference } from './k8s/event-recorder.js';
export { clientCertificateOf, type ClientCertificate, type HandshakeWithClientCertificate } from './client-certificate.js';
export { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connection-limits.js';
export { ClientTrust, UNTRUSTED_REASONS, type TrustVerdict, type UntrustedReason } from './client-trust.js';
export { RevocationList } from './crl.js';
