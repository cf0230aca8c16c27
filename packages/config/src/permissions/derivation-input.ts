import type { AgentSettings, BuilderType } from '../normalize.js';
import type { ContextStore } from '../uri/context-store.js';
import type { Destination } from '../uri/destination.js';
import type { IdentityRole, KubernetesIdentity, PermissionsOptions } from './permissions-report.js';

// The contract between the deriver and the per-cloud sections: the deriver fills it in, each
// cloud section reads it. Kept apart from both so neither side imports the other.

/**
 * What each identity does with the registry and the context store. The agent checks whether an
 * image exists and, with kaniko, uploads and deletes build contexts and mints the token each
 * build pushes with; build pods download the context, and with kaniko-cache read and push
 * kaniko's layer cache in the same repository.
 */
export interface Needs {
  builder: BuilderType;
  /** Per identity: which registry and storage access it needs. */
  registry: Partial<Record<IdentityRole, 'read' | 'push'>>;
  storage: Partial<Record<IdentityRole, 'write' | 'read'>>;
  createRepository: boolean;
}

/** The inputs every cloud section reads. */
export interface DerivationInput {
  settings: AgentSettings;
  options: PermissionsOptions;
  needs: Needs;
  identities: KubernetesIdentity[];
  destination?: Destination;
  store?: ContextStore;
  /** Adds a fact the user should know to the report. */
  note(text: string): void;
  /** Records a value the user must fill in; returns its `<NAME>` form. */
  placeholder(name: string, description: string, flag?: string): string;
}
