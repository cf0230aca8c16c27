export {
  formatMigrationReport,
  migratedValuesYaml,
  migrateWandbValues,
  MAX_VALUES_BYTES,
  type MigrationResult,
} from './migrate-values.js';
export { MigrateValuesError, type MigrationNote, type MigrationOutcome } from './migration.js';
export {
  WANDB_CHART_KEYS,
  WANDB_ONLY_TOP_LEVEL_KEYS,
  wandbValuesRefusal,
} from './wandb-chart-keys.js';
