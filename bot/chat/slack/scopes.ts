// What the bot token must be allowed to deliver a video, read from the scopes Slack reports for it (the
// x-oauth-scopes header of auth.test), so a request the bot could not deliver is refused before any GPU work.
import { UserFacingError } from '../../core/errors.js';

/** Uploading the MP4 (files.getUploadURLExternal, files.completeUploadExternal). */
export const UPLOAD_SCOPE = 'files:write';

/** Throws NOT_ALLOWED in one sentence saying what to fix when `scopes` lacks files:write. Unknown scopes: allowed. */
export function checkCanUpload(scopes: readonly string[] | undefined): void {
  if (!scopes || scopes.includes(UPLOAD_SCOPE)) return;
  throw new UserFacingError(
    'NOT_ALLOWED',
    `I can't upload videos in this workspace: the app is missing the ${UPLOAD_SCOPE} permission. Ask a workspace admin to add it (see slack/manifest.yaml) and reinstall the app.`,
  );
}
