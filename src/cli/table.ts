/** Plain-text tables for CLI output: columns padded to their widest cell, the last one not. */
export function printTable(header: string[], rows: string[][]): void {
  const table = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
  for (const row of table) {
    const cells = row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!)));
    process.stdout.write(`${cells.join('  ')}\n`);
  }
}
