// Alerts: short messages above the panels (errors, and notes of kind 'info'), each with a
// Dismiss button and at most one action. Only the newest few stay, so a burst cannot fill the page.
import { $, textButton } from './page-dom.js';

const MAX_ALERTS = 4;

/** Shows `text`; `action` ({ label, run }) adds a button that runs it and closes the alert. */
export function showAlert(text, { kind = 'error', action } = {}) {
  const box = document.createElement('div');
  box.className = `alert ${kind === 'info' ? 'info' : ''}`;
  const span = document.createElement('span');
  span.textContent = text;
  box.append(span);
  if (action) box.append(textButton(action.label, () => { box.remove(); action.run(); }));
  const close = textButton('Dismiss', () => box.remove());
  close.setAttribute('aria-label', 'Dismiss this message');
  box.append(close);
  const alerts = $('alerts');
  alerts.append(box);
  while (alerts.children.length > MAX_ALERTS) alerts.firstElementChild.remove();
  return box;
}
