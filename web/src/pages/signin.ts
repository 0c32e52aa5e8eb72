import { ListChannelsCommand } from "@aws-sdk/client-ivs";

import { ivsClient, type Creds } from "../api";
import type { Config } from "../config";
import { errorText, h } from "../dom";

// Sign-in checks the key pair with a real, signed API call: a wrong secret
// fails here with the API's own error, not later on some page.
export function signInPage(cfg: Config, done: (c: Creds) => void): HTMLElement {
  const akid = h("input", { id: "akid", name: "akid", required: true, autocomplete: "username", spellcheck: "false" });
  const secret = h("input", { id: "secret", name: "secret", type: "password", required: true, autocomplete: "current-password" });
  const error = h("p", { class: "error", role: "alert", "data-testid": "signin-error" });
  const submit = h("button", { type: "submit" }, "Sign in");
  const form = h("form", { class: "card signin", onsubmit: async (e: Event) => {
    e.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    const creds = { accessKeyId: akid.value.trim(), secretAccessKey: secret.value.trim() };
    try {
      await ivsClient(cfg, creds).send(new ListChannelsCommand({ maxResults: 1 }));
      done(creds);
    } catch (err) {
      const name = (err as { name?: string }).name ?? "";
      const hint = /Signature|UnrecognizedClient|MissingAuthentication/.test(name)
        ? "The access key id or secret access key is wrong. Use the pair in the server's credentials file (profile onair)."
        : "The server could not be reached or refused the request.";
      error.textContent = `${hint} (${errorText(err)})`;
    } finally {
      submit.disabled = false;
    }
  } },
    h("h1", {}, "Sign in to onair"),
    h("p", { class: "muted" }, `Region ${cfg.region}. The admin key pair is in the server's data directory, in the file credentials.`),
    h("label", { for: "akid" }, "Access key id"), akid,
    h("label", { for: "secret" }, "Secret access key"), secret,
    error, submit,
  );
  return h("main", { class: "center" }, form);
}
