// The settings card as data: read into fineTune's options, written back from a kept project.
import { $ } from './page-dom.js';

/** Each setting's input and how its value is read (numbers, a choice, a checkbox). */
const FIELDS = {
  epochs: ['epochs', Number],
  batchSize: ['batch-size', Number],
  learningRate: ['lr', Number],
  optimizer: ['optimizer', String],
  schedule: ['schedule', String],
  freeze: ['freeze', String],
  augment: ['augment', Boolean],
  validationSplit: ['val-split', Number],
};

/** The settings card as fineTune options. */
export function readSettings() {
  return Object.fromEntries(Object.entries(FIELDS).map(([option, [id, kind]]) => {
    const input = $(id);
    return [option, kind === Boolean ? input.checked : kind(input.value)];
  }));
}

/** Puts kept `settings` back in the card (unknown or missing ones are left as they are). */
export function applySettings(settings = {}) {
  for (const [option, [id, kind]] of Object.entries(FIELDS)) {
    if (!(option in settings)) continue;
    if (kind === Boolean) $(id).checked = Boolean(settings[option]);
    else $(id).value = String(settings[option]);
  }
}

/** Calls `onChange` whenever a setting changes. */
export function watchSettings(onChange) {
  for (const [id] of Object.values(FIELDS)) $(id).addEventListener('change', onChange);
}
