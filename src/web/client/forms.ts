// The page's forms: one submit handler for all of them, which shows a failure and marks the fields it names.

/** The form's named fields as strings. */
function fields(form: HTMLFormElement): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [key, value] of new FormData(form)) values[key] = String(value);
  return values;
}

/** Runs a form's submit action with its button disabled, showing a failure in `errorOut`. */
export function onSubmit(
  form: HTMLFormElement,
  errorOut: HTMLElement,
  action: (values: Record<string, string>) => Promise<void>,
): void {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector<HTMLButtonElement>("button[type=submit]");
    if (button) button.disabled = true;
    errorOut.textContent = "";
    for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
    try {
      await action(fields(form));
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      errorOut.textContent = text;
      markInvalid(form, text);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

/**
 * The fields an error names ("Email must be ...") are marked invalid, and the first of them gets the focus; each
 * field's aria-describedby already points at the form's error line. An error naming none marks them all.
 */
function markInvalid(form: HTMLFormElement, text: string): void {
  const inputs = [...form.querySelectorAll<HTMLInputElement>("input:not([type=hidden])")];
  const named = inputs.filter((input) => new RegExp(`\\b${input.name.replace(/_/g, " ")}\\b`, "i").test(text));
  for (const input of named.length > 0 ? named : inputs) input.setAttribute("aria-invalid", "true");
  (named[0] ?? inputs[0])?.focus();
}
