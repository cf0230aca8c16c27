export { type DoctorCheck } from './doctor-check.js';
export { runDoctor, PROBE_TAG, PROBE_PREFIX, type DoctorOptions } from './run-doctor.js';
export { probePush, type PushProbeOptions } from './registry-push-probe.js';
export {
  checkKubernetesAccess,
  requiredAccess,
  contextNamespace,
  type AccessRequirement,
  type KubernetesCheckOptions,
} from './kubernetes-check.js';
export { checkDockerEngine } from './docker-check.js';
