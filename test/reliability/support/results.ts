import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** Writes a results page under test/reliability/results/ with the command that produced it. */
export function writeResults(file: string, title: string, command: string, body: string): void {
  mkdirSync(dirname(file), { recursive: true });
  const text = [
    `# ${title}`,
    '',
    `Produced by \`${command}\` on ${new Date().toISOString()} (Node ${process.version}).`,
    '',
    body.trimEnd(),
    '',
  ].join('\n');
  writeFileSync(file, text);
}

export function markdownTable(header: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) =>
    `| ${cells.map((cell) => String(cell).replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function statusClass(status: number): string {
  return `${Math.floor(status / 100)}xx`;
}
