/**
 * Catches unknown field names in rendered manifests, which the kubernetes-models JSON schemas let
 * through (they allow additional properties). It walks each object against the TypeScript
 * interface kubernetes-models publishes for its kind, with the TypeScript compiler's type
 * checker: a key that is not a property of the type at that path is reported.
 */
import ts from 'typescript';
import { fileURLToPath } from 'node:url';

const MODELS: Readonly<Record<string, readonly [module: string, type: string]>> = {
  'apps/v1 Deployment': ['kubernetes-models/apps/v1/Deployment', 'IDeployment'],
  'v1 Service': ['kubernetes-models/v1/Service', 'IService'],
  'v1 ServiceAccount': ['kubernetes-models/v1/ServiceAccount', 'IServiceAccount'],
  'v1 ConfigMap': ['kubernetes-models/v1/ConfigMap', 'IConfigMap'],
  'v1 Pod': ['kubernetes-models/v1/Pod', 'IPod'],
  'rbac.authorization.k8s.io/v1 Role': ['kubernetes-models/rbac.authorization.k8s.io/v1/Role', 'IRole'],
  'rbac.authorization.k8s.io/v1 RoleBinding': ['kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding', 'IRoleBinding'],
  'policy/v1 PodDisruptionBudget': ['kubernetes-models/policy/v1/PodDisruptionBudget', 'IPodDisruptionBudget'],
  'networking.k8s.io/v1 NetworkPolicy': ['kubernetes-models/networking.k8s.io/v1/NetworkPolicy', 'INetworkPolicy'],
  'autoscaling/v2 HorizontalPodAutoscaler': ['kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler', 'IHorizontalPodAutoscaler'],
  'cert-manager.io/v1 Certificate': ['@kubernetes-models/cert-manager/cert-manager.io/v1/Certificate', 'ICertificate'],
  'monitoring.coreos.com/v1 ServiceMonitor': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor', 'IServiceMonitor'],
  'monitoring.coreos.com/v1 PrometheusRule': ['@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule', 'IPrometheusRule'],
};

export class StrictFieldChecker {
  readonly #checker: ts.TypeChecker;
  readonly #kinds: ts.Type;

  constructor() {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const virtual = `${root}test/support/__kinds__.ts`;
    const source = [
      ...Object.entries(MODELS).map(([, [module, type]], i) => `import type { ${type} as T${i} } from '${module}';`),
      'export interface Kinds {',
      ...Object.keys(MODELS).map((key, i) => `  ${JSON.stringify(key)}: T${i};`),
      '}',
    ].join('\n');
    const options: ts.CompilerOptions = { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, noEmit: true, skipLibCheck: true, types: [] };
    const host = ts.createCompilerHost(options);
    const getSourceFile = host.getSourceFile.bind(host);
    host.getSourceFile = (name, version, ...rest) => (name === virtual ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest));
    const fileExists = host.fileExists.bind(host);
    host.fileExists = (name) => name === virtual || fileExists(name);
    const program = ts.createProgram([virtual], options, host);
    this.#checker = program.getTypeChecker();
    const file = program.getSourceFile(virtual);
    const kinds = file?.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'Kinds');
    if (!kinds) throw new Error('cannot build the Kinds interface');
    this.#kinds = this.#checker.getTypeAtLocation(kinds);
    const unresolved = program.getSemanticDiagnostics(file).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    if (unresolved.length > 0) throw new Error(`model types did not resolve: ${unresolved.join('; ')}`);
  }

  /** Whether there is a model for this object's apiVersion and kind. */
  knows(object: { apiVersion?: unknown; kind?: unknown }): boolean {
    return `${String(object.apiVersion)} ${String(object.kind)}` in MODELS;
  }

  /** Paths of fields the object's type does not have. */
  unknownFields(object: Record<string, unknown>): string[] {
    const key = `${String(object['apiVersion'])} ${String(object['kind'])}`;
    const symbol = this.#kinds.getProperty(key);
    if (!symbol) throw new Error(`no model for ${key}`);
    const problems: string[] = [];
    this.#walk(object, this.#checker.getTypeOfSymbol(symbol), String(object['kind']), problems);
    return problems;
  }

  #walk(value: unknown, declared: ts.Type, path: string, problems: string[]): void {
    if (value === null || typeof value !== 'object') return;
    const type = this.#checker.getNonNullableType(declared);
    if (type.flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
    if (Array.isArray(value)) {
      const element = this.#checker.isArrayType(type) ? this.#checker.getTypeArguments(type as ts.TypeReference)[0] : undefined;
      if (element) value.forEach((item, i) => this.#walk(item, element, `${path}[${i}]`, problems));
      return;
    }
    const candidates = type.isUnion() ? type.types.filter((t) => t.flags & ts.TypeFlags.Object) : [type];
    for (const [key, child] of Object.entries(value)) {
      const where = `${path}.${key}`;
      const property = candidates.map((t) => t.getProperty(key)).find(Boolean);
      if (property) {
        this.#walk(child, this.#checker.getTypeOfSymbol(property), where, problems);
        continue;
      }
      const index = candidates.flatMap((t) => this.#checker.getIndexInfosOfType(t))[0];
      if (index) this.#walk(child, index.type, where, problems);
      else problems.push(`${where}: unknown field`);
    }
  }
}
