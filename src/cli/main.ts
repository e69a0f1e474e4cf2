import { Command, CommanderError } from 'commander';
import { registerAdminCommands, registerHubCommands, registerPurgeCommand, registerRepoCommands } from './commands.ts';
import { CliError } from './output.ts';

export function buildProgram(): Command {
  const program = new Command('musehub')
    .description('MuseHub Gateway: the server muse clients push to, fetch from and clone from')
    .exitOverride()
    .showHelpAfterError();
  program
    .command('serve')
    .description('run the gateway (embedded PostgreSQL unless DATABASE_URL is set)')
    .option('--workers <n>', 'gateway processes sharing the port (default: MUSEHUB_WORKERS, else CPUs up to 4)')
    .action(async (opts: { workers?: string }) => {
      // Through the environment, so the value is validated with the rest of the config.
      if (opts.workers !== undefined) process.env.MUSEHUB_WORKERS = opts.workers;
      await (await import('../main.ts')).runServe();
    });
  program
    .command('mcp')
    .description('MCP over stdio for local agents, relayed to a running gateway (MUSEHUB_URL, MUSEHUB_TOKEN)')
    .action(async () => {
      await (await import('./mcp-stdio.ts')).relayStdioToGateway();
    });
  registerAdminCommands(program);
  registerPurgeCommand(program);
  registerRepoCommands(program);
  registerHubCommands(program);
  return program;
}

/** Entry point of the `musehub` command. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode);
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`musehub: ${message}\n`);
    process.exit(err instanceof CliError ? err.exitCode : 1);
  }
}
