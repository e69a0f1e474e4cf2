/**
 * The pages' only script, inlined under the CSP nonce. Progressive enhancement: every page works
 * without it (the server checks a delete's typed name itself); with it, a typed-confirmation
 * button stays disabled until the text matches, and the branch menu switches on change.
 */
export const ENHANCE_SCRIPT = `
for (const form of document.querySelectorAll('form[data-confirm]')) {
  const input = form.querySelector('input[name="confirm"]');
  const button = form.querySelector('button[type="submit"]');
  const sync = () => { button.disabled = input.value.trim() !== form.dataset.confirm; };
  input.addEventListener('input', sync);
  sync();
}
for (const select of document.querySelectorAll('select[data-autosubmit]')) {
  select.addEventListener('change', () => select.form.submit());
  for (const b of select.form.querySelectorAll('button')) b.hidden = true;
}
`;
