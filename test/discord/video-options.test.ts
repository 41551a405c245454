// /video's options come from one table: Discord's bounds and choices from the presets, and each answer into the request.
import { afterEach, describe, expect, it } from 'vitest';
import { VIDEO_OPTIONS, videoOptionDefinitions } from '../../bot/chat/discord/video-options.js';
import { SEED_RANGE } from '../../bot/core/limits.js';
import { PRESET_IDS, getPreset } from '../../bot/core/presets.js';
import { fileTypesProblem, modalProblem } from './fake-discord.js';
import { prompt, startWorld, startedJob, type DiscordWorld } from './setup.js';

describe('Discord /video options', () => {
  let w: DiscordWorld | undefined;
  afterEach(async () => w?.close());

  it('take their bounds and choices from the presets: every model, and the frames, steps and guidance some preset allows', () => {
    const byName = Object.fromEntries(videoOptionDefinitions().map((o) => [o.name, o as unknown as Record<string, unknown>]));
    expect((byName.model!.choices as { name: string; value: string }[]).map((c) => [c.value, c.name])).toEqual(PRESET_IDS.map((id) => [id, getPreset(id)!.label]));
    // Wan's 4N+1 from 5 up to CogVideoX 1.5's 161.
    expect(byName.frames).toMatchObject({ type: 4, min_value: 5, max_value: 161, description: 'Number of frames (4N+1, 8N+1 or 16N+1, by model)' });
    expect(byName.steps).toMatchObject({ type: 4, min_value: 1, max_value: 100 });
    expect(byName.guidance).toMatchObject({ type: 10, min_value: 1, max_value: 20, description: 'How closely to follow the prompt (default 6)' });
    expect(byName.seed).toMatchObject({ type: 4, min_value: SEED_RANGE.min, max_value: SEED_RANGE.max });
    // Discord's picker offers only these; the bytes are checked anyway.
    expect(byName.image).toMatchObject({ type: 11, file_types: ['.png', '.jpg', '.jpeg', '.webp'] });
    expect(fileTypesProblem(byName.image!.file_types, true)).toBeUndefined();
    for (const o of videoOptionDefinitions()) expect(o.description.length, o.name).toBeLessThanOrEqual(100);
  });

  it('fill the request from every option a person sets, through discord.js', async () => {
    w = await startWorld();
    const values: Record<string, { type: number; value: string | number | boolean }> = {
      model: { type: 3, value: 'cogvideox-2b' },
      seed: { type: 4, value: 11 },
      frames: { type: 4, value: 17 },
      steps: { type: 4, value: 20 },
      guidance: { type: 10, value: 4.5 },
      negative: { type: 3, value: 'blurry' },
    };
    expect(VIDEO_OPTIONS.map((o) => o.name).filter((n) => n in values)).toEqual(Object.keys(values));
    const id = await w.fake.slashCommand('video', [prompt('a red kite'), ...Object.entries(values).map(([name, v]) => ({ name, ...v }))]);
    const { jobId } = await startedJob(w, id);
    expect((await w.h.store.get(jobId))!.params).toMatchObject({ prompt: 'a red kite', model: 'cogvideox-2b', seed: 11, frames: 17, steps: 20, guidance: 4.5, negativePrompt: 'blurry' });
  });

  it('are checked by the fake as Discord documents: a File Upload only in a Label, an image filter with .jpg', () => {
    const upload = { type: 19, custom_id: 'image', file_types: ['.png', '.jpg'] };
    expect(modalProblem({ custom_id: 'm', title: 'T', components: [{ type: 18, label: 'Image', component: upload }] })).toBeUndefined();
    expect(modalProblem({ custom_id: 'm', title: 'T', components: [{ type: 1, components: [upload] }] })).toMatch(/one text input/);
    expect(modalProblem({ custom_id: 'm', title: 'T', components: [upload] })).toMatch(/cannot be a top-level/);
    expect(modalProblem({ custom_id: 'm', title: 'T', components: [{ type: 18, label: 'Image', component: { ...upload, max_values: 11 } }] })).toMatch(/max_values/);
    expect(fileTypesProblem(['.png', '.webp'], true)).toMatch(/\.jpg/);
    expect(fileTypesProblem(['image'], true)).toBeUndefined();
    expect(fileTypesProblem(['.png', '.jpg'], false)).toMatch(/only for attachment options/);
  });
});
