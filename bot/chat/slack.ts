// The Slack adapter: a Bolt app (Socket Mode or HTTP) whose handlers call the JobService, plus the Slack ChatSurface.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { App, HTTPReceiver, SocketModeReceiver, webApi, type Receiver } from '@slack/bolt';
import { DEFAULT_IMAGE_LIMITS, type ImageLimits } from '../core/image.js';
import type { EditBudget, Logger } from '../core/ports.js';
import type { JobService } from '../core/service.js';
import type { ChatAdapter } from './adapter.js';
import * as actions from './slack/actions.js';
import * as commands from './slack/commands.js';
import { RequestClaims, type HandlerDeps } from './slack/context.js';
import * as events from './slack/events.js';
import { boltLogger } from './slack/logger.js';
import * as admin from './slack/admin.js';
import * as shortcuts from './slack/shortcuts.js';
import { SlackSurface } from './slack/surface.js';
import * as views from './slack/views.js';

export interface SlackAdapterOptions {
  /** SLACK_BOT_TOKEN (xoxb-…): every Web API call and file download. */
  readonly botToken: string | undefined;
  /** SLACK_APP_TOKEN (xapp-…, connections:write): Socket Mode only. */
  readonly appToken?: string | undefined;
  /** SLACK_SIGNING_SECRET: HTTP mode only; Bolt rejects unsigned, wrongly signed or stale (> 5 min) requests with 401. */
  readonly signingSecret?: string | undefined;
  readonly mode: 'socket' | 'http';
  /** HTTP mode: where Slack's request URL (…/slack/events) is served. 0 picks a free port. */
  readonly port: number;
  /** SLACK_API_URL: the Web API base, e.g. https://slack-gov.com/api/ for GovSlack. Socket Mode's apps.connections.open uses it too. */
  readonly apiUrl?: string | undefined;
  readonly logger: Logger;
  readonly imageLimits?: ImageLimits;
  /** chat.update's budget for the workspace (default SLACK_WORKSPACE_EDITS); tests shorten the window instead of waiting it out. */
  readonly workspaceEdits?: EditBudget;
  /**
   * How the Bolt app's client retries a failed call (default: the Web API client's own, ten retries over about half an
   * hour, each at least a second or two after Retry-After has passed); tests drop that back-off to retry once it has.
   */
  readonly clientRetryConfig?: webApi.RetryOptions;
}

export interface SlackAdapter extends ChatAdapter {
  readonly surface: SlackSurface;
  /** HTTP mode, once started: the port the request URL listens on. */
  httpPort(): number | undefined;
}

export function createSlackAdapter(options: SlackAdapterOptions): SlackAdapter {
  const botToken = options.botToken;
  if (!botToken) throw new Error('Slack needs SLACK_BOT_TOKEN (the xoxb- bot token).');
  const log = options.logger.child({ platform: 'slack' });
  const logger = boltLogger(log.child({ component: 'bolt' }));
  const clientOptions: webApi.WebClientOptions = {
    logger,
    ...(options.apiUrl ? { slackApiUrl: options.apiUrl.endsWith('/') ? options.apiUrl : `${options.apiUrl}/` } : {}),
    ...(options.clientRetryConfig ? { retryConfig: options.clientRetryConfig } : {}),
  };

  let receiver: Receiver;
  if (options.mode === 'http') {
    if (!options.signingSecret) throw new Error('Slack HTTP mode needs SLACK_SIGNING_SECRET.');
    receiver = new HTTPReceiver({ signingSecret: options.signingSecret, endpoints: '/slack/events', port: options.port, logger });
  } else {
    if (!options.appToken) throw new Error('Slack Socket Mode needs SLACK_APP_TOKEN (an xapp- token with connections:write).');
    // installerOptions.clientOptions is how Bolt hands options to the Socket Mode client's own Web API client.
    receiver = new SocketModeReceiver({ appToken: options.appToken, logger, installerOptions: { clientOptions: { ...clientOptions } } });
  }

  const app = new App({ token: botToken, receiver, logger, clientOptions, deferInitialization: true });
  const editClient = new webApi.WebClient(botToken, { ...clientOptions, rejectRateLimitedCalls: true, retryConfig: { retries: 1 } });
  const surface = new SlackSurface(app.client, editClient, log, options.workspaceEdits);
  let server: Server | undefined;
  let started = false;

  return {
    surface,
    httpPort: () => (server?.address() as AddressInfo | null)?.port,
    async start(service: JobService): Promise<void> {
      if (started) return;
      started = true;
      const deps: HandlerDeps = {
        service,
        log,
        botToken,
        isSlackFileUrl: (url) => isSlackFileUrl(url, options.apiUrl),
        imageLimits: options.imageLimits ?? DEFAULT_IMAGE_LIMITS,
        claims: new RequestClaims(),
      };
      for (const group of [commands, actions, views, events, shortcuts, admin]) group.register(app, deps);
      app.error(async (err) => log.error({ err }, 'unhandled error in a Slack handler'));
      await app.init(); // auth.test: fails fast on a wrong token or API URL
      // Slack reports the token's scopes with every answer (x-oauth-scopes): kept to refuse, at submit, what could not be posted.
      surface.scopes = (await app.client.auth.test()).response_metadata?.scopes;
      if (surface.scopes && !surface.scopes.includes('files:write')) log.error({ scopes: surface.scopes }, 'the Slack app lacks files:write: videos cannot be posted until it is added and the app reinstalled');
      if (options.mode === 'http') {
        server = (await app.start(options.port)) as Server;
        log.info({ port: (server.address() as AddressInfo).port, path: '/slack/events' }, 'Slack adapter listening (HTTP mode)');
      } else {
        await app.start();
        log.info('Slack adapter connected (Socket Mode)');
      }
    },
    async stop(): Promise<void> {
      surface.close();
      if (started) await app.stop();
      started = false;
    },
  };
}

/**
 * Where the bot token may be sent to download a file: HTTPS on Slack's hosts (slack.com, GovSlack's
 * slack-gov.com, and their subdomains such as files.slack.com), or the origin of the configured API URL.
 */
export function isSlackFileUrl(url: URL, apiUrl?: string): boolean {
  const host = url.hostname.toLowerCase();
  if (url.protocol === 'https:' && ['slack.com', 'slack-gov.com'].some((d) => host === d || host.endsWith(`.${d}`))) return true;
  return apiUrl !== undefined && URL.canParse(apiUrl) && new URL(apiUrl).origin === url.origin;
}
