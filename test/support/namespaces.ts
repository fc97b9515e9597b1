import { readdirSync } from 'node:fs';
import { basename, join, relative } from 'node:path';

/** Each test file runs in its own Temporal namespace, so workflow IDs such as `dlq-logistics` never collide. */
export function testNamespace(testFile: string): string {
  return `t-${basename(testFile).replace(/\.test\.ts$/, '').replace(/[^A-Za-z0-9-]/g, '-')}`;
}

export function allTestFiles(root = join(__dirname, '..')): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.test.ts')) out.push(relative(root, path));
    }
  };
  walk(root);
  return out;
}
