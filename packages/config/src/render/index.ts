// Renders the chart's launch-config.yaml from Helm values without Helm (`launch-agent render`).
export {
  renderChartValues,
  defaultChartDir,
  ChartRenderError,
  type RenderChartValuesOptions,
  type RenderedChartValues,
} from './render-chart-values.js';
export {
  chartLaunchConfig,
  checkChartValues,
  ChartValuesError,
  CHART_CONTEXT_PVC_MOUNT_PATH,
} from './launch-config.js';
export {
  chartName,
  fullname,
  releaseNamespace,
  serviceAccountName,
  buildServiceAccountName,
  type Release,
} from './chart-names.js';
export { applySetLine, typedValue } from './strvals.js';
export {
  coalesceWithDefaults,
  mergeMaps,
  parseValues,
  readValuesFile,
  ValuesFileError,
  type Values,
} from './values.js';
