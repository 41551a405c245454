// Creates or updates the bot's application commands: in one guild (instant, for testing) or globally.
import { REST, Routes } from 'discord.js';
import { commandDefinitions } from './commands.js';

export interface RegisterOptions {
  readonly token: string;
  /** Looked up from the token when absent. */
  readonly applicationId?: string;
  /** Registers in this guild only; otherwise globally. */
  readonly guildId?: string;
  readonly apiUrl?: string;
}

export async function registerCommands(options: RegisterOptions): Promise<{ scope: string; names: string[] }> {
  const rest = new REST(options.apiUrl ? { api: options.apiUrl } : {}).setToken(options.token);
  const applicationId = options.applicationId ?? ((await rest.get(Routes.currentApplication())) as { id: string }).id;
  const route = options.guildId ? Routes.applicationGuildCommands(applicationId, options.guildId) : Routes.applicationCommands(applicationId);
  // PUT replaces the whole set, so running this again updates commands and removes ones we dropped.
  const saved = (await rest.put(route, { body: commandDefinitions() })) as { name: string }[];
  return { scope: options.guildId ? `guild ${options.guildId}` : 'global', names: saved.map((c) => c.name) };
}
