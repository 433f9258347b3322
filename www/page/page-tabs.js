// The two tabs (Classify & explain, Fine-tune): click, or the arrow keys once one has focus.
// Opening Fine-tune is the sign that the WebGPU runtime will be wanted, so it starts loading then.
import { $ } from './page-dom.js';
import { page } from './page-state.js';

export function setupTabs() {
  const tabs = [$('tab-classify'), $('tab-train')];
  const select = (tab) => {
    for (const t of tabs) {
      const selected = t === tab;
      t.setAttribute('aria-selected', String(selected));
      t.tabIndex = selected ? 0 : -1;
      $(t.getAttribute('aria-controls')).hidden = !selected;
    }
    if (tab.id === 'tab-train') page.model?.loadWebGpu(); // fine-tuning is in sight
  };
  tabs.forEach((tab, index) => {
    tab.addEventListener('click', () => select(tab));
    tab.addEventListener('keydown', (event) => {
      const move = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
      if (move) {
        const next = tabs[(index + move + tabs.length) % tabs.length];
        select(next);
        next.focus();
      }
    });
  });
}
