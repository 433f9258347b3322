// Small DOM helpers the view modules share.

/** The element with this id. */
export const $ = (id) => document.getElementById(id);

/** A `<button type="button">` with this text that calls `onClick`. */
export function textButton(label, onClick) {
  const button = document.createElement('button');
  button.type = 'button';
  button.textContent = label;
  button.addEventListener('click', onClick);
  return button;
}

/** A table row of `cells` (strings), as `td` or `th` cells. */
export function tableRow(cells, tag = 'td') {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const el = document.createElement(tag);
    el.textContent = cell;
    tr.append(el);
  }
  return tr;
}
