// The run's file order (vitest.config.ts sequence.sequencer), for the two workers of the 2-core machine. vitest's own
// order (longest first, from its cache of the last run) started the files that run a real job first, and those
// waited ~10 s for the fork server's imports (test/global-setup.ts) while the other core had little to do. Here the
// fork server starts as the run begins (when a file needs it) and files that need no Python but much CPU go first,
// beside its imports; then vitest's order. Only the order changes: each file runs as it would alone.
import { BaseSequencer, type TestSpecification } from 'vitest/node';
import { startForkServer } from '../global-setup.js';

/** Files that run a real processing job (through the fork server) or the server itself. */
const NEEDS_FORK_SERVER = [
  'test/scripts/forkserver.test.ts',
  'test/aws/async-runner.test.ts',
  'test/cli.test.ts',
  'test/slack/local-runner.test.ts',
  'test/discord/local-runner.test.ts',
  'test/chat/extend-combine.test.ts',
  'test/local/worker.test.ts',
];
/** CPU-bound files without a real job, in this order before the rest: cdk-nag's synths (~12 CPU s), the moto suites. */
const FIRST = ['test/infra/nag.test.ts', 'test/aws/async-lifecycle.test.ts', 'test/aws/dynamodb.test.ts'];

export default class Sequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const path = (f: TestSpecification) => f.moduleId.slice(f.project.config.root.length + 1);
    if (sorted.some((f) => NEEDS_FORK_SERVER.includes(path(f)))) startForkServer();
    const rank = (f: TestSpecification) => {
      const at = FIRST.indexOf(path(f));
      return at < 0 ? FIRST.length : at;
    };
    return sorted.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f);
  }
}
