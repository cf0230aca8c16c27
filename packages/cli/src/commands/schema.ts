import { agentConfigSchema } from '@launch-agent/config';
import type { Command } from 'commander';
import type { Output } from '../output.js';

export function registerSchemaCommand(program: Command, out: Output): void {
  program
    .command('schema')
    .description('Print the JSON Schema (draft-07) of launch-config.yaml.')
    .addHelpText('after', '\nUse it in an editor: # yaml-language-server: $schema=<saved file>')
    .action(() => {
      out.line(JSON.stringify(agentConfigSchema, null, 2));
    });
}
