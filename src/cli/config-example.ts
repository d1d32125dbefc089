/** `sluice config example`: print the documented default configuration (as in contrib/). */
import { renderExample } from '../config/example.js';
import type { Command } from './command.js';

export const configExample: Command = {
  name: 'config example',
  summary: 'print a configuration file documenting every option and its default',
  usage: 'sluice config example > sluice.yaml',
  options: {},
  async run() {
    process.stdout.write(renderExample());
    return 0;
  },
};
