// The prompt-enhancement instructions, shared by every enhancer backend (OpenAI-compatible, Bedrock).

export const ENHANCE_SYSTEM_PROMPT = [
  'Role: You enhance the user prompt for a short video clip, with as much detail as possible:',
  'the subject, its motion, the setting, lighting, camera angle and movement, and the visual style.',
  'Task: Write exactly one paragraph of at most 150 words. Reply with only the enhanced prompt:',
  'no title, no quotes, no preamble, no lists, no explanation.',
].join(' ');

export function enhanceUserMessage(prompt: string): string {
  return `Prompt: ${prompt}`;
}

/** Removes wrappers models add despite the instructions ("Enhanced prompt:", quotes, markdown). */
export function cleanEnhancedText(text: string): string {
  let t = text.trim();
  t = t.replace(/^(here is|here's)[^:\n]*:\s*/i, '');
  t = t.replace(/^(enhanced prompt|prompt)\s*:\s*/i, '');
  t = t.replace(/^\*\*?|\*\*?$/g, '');
  if ((t.startsWith('"') && t.endsWith('"')) || (t.startsWith('“') && t.endsWith('”'))) t = t.slice(1, -1);
  return t.replace(/\s*\n+\s*/g, ' ').trim();
}
