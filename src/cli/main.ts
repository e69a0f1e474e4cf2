import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { registerAdminCommands, registerHubCommands, registerPurgeCommand, registerRepoCommands } from './commands.ts';
import { reportFailure } from './output.ts';

export function buildProgram(): Command {
  const program = new Command('musehub')
    .description('MuseHub Gateway: the server muse clients push to, fetch from and clone from')
    .version(packageVersion(), '-V, --version', 'print the version')
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

function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
    .version;
}

const usageError = (err: CommanderError) => ({
  error: { message: err.message.replace(/^error: /, ''), code: err.code, status: null, exitCode: err.exitCode },
});

/** Entry point of the `musehub` command. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (err) {
    const json = argv.includes('--json');
    if (err instanceof CommanderError) {
      // Commander has said what was wrong on stderr; a --json caller also gets it on stdout.
      if (json && err.exitCode !== 0) process.stdout.write(`${JSON.stringify(usageError(err), null, 2)}\n`);
      process.exit(err.exitCode);
    }
    process.exit(reportFailure(err, json));
  }
}
