import type { Ctx } from "../console";
import { append, badge, clear, copyable, errorText, fmtDuration, fmtTime, h } from "../dom";
import {
  createParticipantToken, createStage, deletePublicKey, deleteStage, disconnectParticipant, getStage, getStageSession,
  importPublicKey, keyValues, listParticipantEvents, listParticipants, listPublicKeys, listStageSessions, listStages,
  resourceId, stageArn, updateStage, type Participant, type Stage, type StageSession,
  createEncoderConfiguration, createStorageConfiguration, deleteEncoderConfiguration, deleteStorageConfiguration,
  listEncoderConfigurations, listStorageConfigurations,
} from "../stages";

// The live parts (who is on, a stage's session) are polled as the channel
// page polls its stream.
const pollEvery = 2000;
const listEvery = 3000;

const time = (s?: string) => fmtTime(s ? new Date(s) : undefined);

function sessionBadge(active?: string, testid?: string): HTMLElement {
  return active ? badge("LIVE", "live", testid) : badge("IDLE", "off", testid);
}

/** /stages: the account's stages, a form to create one, and the public keys that sign tokens. */
export function stagesPage(ctx: Ctx, main: HTMLElement): void {
  const error = h("p", { class: "error", role: "alert" });
  const body = h("tbody");
  const keys = h("section", { class: "card" });
  main.append(h("div", { class: "titlebar" }, h("h1", {}, "Stages"), h("span", { class: "spacer" }),
    h("a", { href: "/stages/configurations", "data-link": true, "data-testid": "stage-configurations-link" }, "Encoder and storage configurations")), error,
    h("div", { class: "columns" },
      h("div", {}, h("section", { class: "card" }, h("h2", {}, "Stages"), h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "ID"), h("th", {}, "Session"))), body)))),
      h("div", {}, createForm(ctx), keys)));

  let drawn = "";
  async function load(): Promise<void> {
    try {
      const stages = await listStages(ctx.cfg, ctx.creds);
      error.textContent = "";
      const sig = JSON.stringify(stages);
      if (sig === drawn) return; // redraw only what changed: keyboard focus stays put
      drawn = sig;
      clear(body);
      if (!stages.length) {
        body.append(h("tr", {}, h("td", { colspan: 3, class: "muted", "data-testid": "no-stages" }, "No stage yet: create one, then give each participant a token.")));
      }
      for (const s of stages) {
        const id = resourceId(s.arn);
        body.append(h("tr", { "data-testid": `stage-row-${id}` },
          h("td", {}, h("a", { href: `/stages/${id}`, "data-link": true, "data-testid": "stage-link" }, s.name || id)),
          h("td", {}, h("code", {}, id)),
          h("td", {}, sessionBadge(s.activeSessionId, "stage-row-status"))));
      }
    } catch (err) {
      error.textContent = errorText(err);
    }
  }
  load();
  const timer = window.setInterval(load, listEvery);
  ctx.onLeave(() => clearInterval(timer));
  publicKeys(ctx, keys);
}

function createForm(ctx: Ctx): HTMLElement {
  const name = h("input", { id: "stage-name", maxlength: 128, placeholder: "studio" });
  const tags = h("textarea", { id: "stage-tags", rows: 2, placeholder: "team=video\nenv=prod" });
  const error = h("p", { class: "error", role: "alert", "data-testid": "stage-create-error" });
  const submit = h("button", { type: "submit", "data-testid": "create-stage" }, "Create stage");
  return h("form", { class: "card", "aria-labelledby": "stage-create-h", onsubmit: async (e: Event) => {
    e.preventDefault();
    error.textContent = "";
    submit.disabled = true;
    try {
      const st = await createStage(ctx.cfg, ctx.creds, name.value.trim(), keyValues(tags.value, "Tags"));
      ctx.go(`/stages/${resourceId(st.arn)}`);
    } catch (err) {
      error.textContent = errorText(err); // the API's ValidationException names the field
    } finally {
      submit.disabled = false;
    }
  } },
    h("h2", { id: "stage-create-h" }, "Create stage"),
    h("div", { class: "grid" }, h("label", { for: "stage-name" }, "Name"), name, h("label", { for: "stage-tags" }, "Tags"), tags),
    error, submit);
}

/** The public keys self-signed tokens are verified with: list, import, delete. */
function publicKeys(ctx: Ctx, card: HTMLElement): void {
  const list = h("div", {});
  const name = h("input", { id: "pk-name", maxlength: 128, placeholder: "signer" });
  const material = h("textarea", { id: "pk-material", rows: 4, placeholder: "-----BEGIN PUBLIC KEY-----\n…" });
  const msg = h("p", { class: "error", role: "alert", "data-testid": "pk-error" });

  async function draw(): Promise<void> {
    try {
      const keys = await listPublicKeys(ctx.cfg, ctx.creds);
      clear(list);
      if (!keys.length) {
        list.append(h("p", { class: "muted", "data-testid": "no-public-keys" }, "None: onair signs every token itself."));
        return;
      }
      list.append(h("ul", { class: "timeline" }, ...keys.map((k) => h("li", { "data-testid": "public-key" },
        h("strong", {}, k.name || resourceId(k.arn)), " ", h("code", { class: "small" }, k.arn), " ",
        h("button", { type: "button", class: "small", "aria-label": `Delete public key ${k.name || resourceId(k.arn)}`, onclick: async () => {
          if (!confirm(`Delete public key ${k.name || resourceId(k.arn)}? Tokens it signed are refused from then on.`)) return;
          try {
            await deletePublicKey(ctx.cfg, ctx.creds, k.arn);
            await draw();
          } catch (err) {
            msg.textContent = errorText(err);
          }
        } }, "Delete")))));
    } catch (err) {
      msg.textContent = errorText(err);
    }
  }

  card.append(h("h2", {}, "Public keys"),
    h("p", { class: "muted small" }, "Tokens your application signs itself (ES384, header kid = the key's ARN) are verified with these; docs/stages.md."),
    list,
    h("form", { onsubmit: async (e: Event) => {
      e.preventDefault();
      msg.textContent = "";
      try {
        await importPublicKey(ctx.cfg, ctx.creds, name.value.trim(), material.value.trim());
        name.value = "";
        material.value = "";
        await draw();
      } catch (err) {
        msg.textContent = errorText(err);
      }
    } }, h("h3", {}, "Import a public key"),
      h("div", { class: "grid" }, h("label", { for: "pk-name" }, "Name"), name, h("label", { for: "pk-material" }, "PEM (P-384)"), material),
      msg, h("button", { type: "submit", "data-testid": "import-public-key" }, "Import")));
  draw();
}

/** /stages/{id}: the stage's endpoints, tokens, who is on now, past sessions. */
export function stagePage(ctx: Ctx, main: HTMLElement, id: string): void {
  const arn = stageArn(ctx.cfg, id);
  const error = h("p", { class: "error", role: "alert", "data-testid": "stage-error" });
  const title = h("h1", {}, id);
  const status = h("div", { class: "status", "aria-live": "polite" });
  const on = h("section", { class: "card", "aria-labelledby": "on-h" });
  const sessions = h("section", { class: "card" });
  const token = h("section", { class: "card" });
  const settings = h("section", { class: "card" });
  main.append(h("p", {}, h("a", { href: "/stages", "data-link": true }, "← Stages")), h("div", { class: "titlebar" }, title, status),
    error, h("div", { class: "columns" }, h("div", {}, on, sessions), h("div", {}, token, settings)));

  let stage: Stage | undefined;
  let drawnOn = "";
  let lastSession: string | undefined | null = null;

  function drawOn(sessionId: string | undefined, people: Participant[]): void {
    const sig = JSON.stringify([sessionId, people]);
    if (sig === drawnOn) return; // a redraw would take the focus off a Disconnect button
    drawnOn = sig;
    clear(on);
    on.append(h("h2", { id: "on-h" }, "Who is on"));
    if (!sessionId || !people.some((p) => p.state === "CONNECTED")) {
      on.append(h("p", { class: "muted", "data-testid": "no-participants" }, "Nobody is on the stage."));
      return;
    }
    on.append(h("p", { class: "muted small" }, "Session ", h("a", { href: `/stages/${id}/sessions/${sessionId}`, "data-link": true }, h("code", {}, sessionId))),
      h("div", { class: "table-wrap" }, h("table", { "data-testid": "participants" },
        h("thead", {}, h("tr", {}, h("th", {}, "Participant"), h("th", {}, "User"), h("th", {}, "State"), h("th", {}, "Published"),
          h("th", {}, "Joined"), h("th", {}, ""))),
        h("tbody", {}, ...people.filter((p) => p.state === "CONNECTED").map((p) => h("tr", { "data-testid": `participant-${p.participantId}` },
          h("td", {}, h("code", {}, p.participantId)),
          h("td", {}, p.userId || h("span", { class: "muted" }, "—")),
          h("td", { "data-testid": "participant-state" }, p.state),
          h("td", {}, p.published ? badge("PUBLISHING", "live") : h("span", { class: "muted" }, "no")),
          h("td", { class: "muted small" }, time(p.firstJoinTime)),
          h("td", {}, h("button", { type: "button", class: "small", "data-testid": "disconnect",
            "aria-label": `Disconnect ${p.userId || p.participantId}`, onclick: () => disconnect(p) }, "Disconnect"))))))));
  }

  async function disconnect(p: Participant): Promise<void> {
    // The prompt is the confirmation: Cancel keeps the participant on.
    const reason = prompt(`Disconnect ${p.userId || p.participantId}? Their token is revoked for good.\nReason (optional):`, "");
    if (reason === null) return;
    try {
      await disconnectParticipant(ctx.cfg, ctx.creds, arn, p.participantId, reason.trim());
      await poll();
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  async function poll(): Promise<void> {
    try {
      stage = await getStage(ctx.cfg, ctx.creds, arn);
      const people = stage.activeSessionId ? await listParticipants(ctx.cfg, ctx.creds, arn, stage.activeSessionId) : [];
      error.textContent = "";
      title.textContent = stage.name || id;
      clear(status);
      append(status, sessionBadge(stage.activeSessionId, "stage-status"),
        stage.activeSessionId && h("span", { "data-testid": "on-count" }, `${people.filter((p) => p.state === "CONNECTED").length} on`));
      drawOn(stage.activeSessionId, people);
      if (stage.activeSessionId !== lastSession) {
        if (lastSession === null) drawSettings();
        lastSession = stage.activeSessionId;
        await drawSessions();
      }
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  function drawSettings(): void {
    const st = stage!;
    const name = h("input", { id: "stage-edit-name", value: st.name ?? "", maxlength: 128 });
    const msg = h("p", { class: "error", role: "alert" });
    settings.append(h("h2", {}, "Stage"),
      h("dl", { class: "inline" },
        h("dt", {}, "ARN"), h("dd", {}, copyable(st.arn, "stage-arn")),
        h("dt", {}, "Events endpoint"), h("dd", {}, st.endpoints?.events ? copyable(st.endpoints.events, "endpoint-events") : "—"),
        h("dt", {}, "WHIP endpoint"), h("dd", {}, st.endpoints?.whip ? copyable(st.endpoints.whip, "endpoint-whip") : "—"),
        ...Object.keys(st.tags ?? {}).length ? [h("dt", {}, "Tags"), h("dd", { "data-testid": "stage-tags" },
          Object.entries(st.tags!).map(([k, v]) => `${k}=${v}`).join(", "))] : []),
      h("form", { onsubmit: async (e: Event) => {
        e.preventDefault();
        msg.textContent = "";
        try {
          stage = await updateStage(ctx.cfg, ctx.creds, arn, name.value.trim());
          title.textContent = stage.name || id;
          msg.className = "ok";
          msg.textContent = "Saved.";
        } catch (err) {
          msg.className = "error";
          msg.textContent = errorText(err);
        }
      } },
        h("div", { class: "grid" }, h("label", { for: "stage-edit-name" }, "Name"), name),
        msg,
        h("div", { class: "actions" },
          h("button", { type: "submit" }, "Save"),
          h("button", { type: "button", class: "danger", "data-testid": "delete-stage", onclick: async () => {
            if (!confirm(`Delete stage ${st.name || id}? Everyone on it is disconnected and its tokens stop working.`)) return;
            try {
              await deleteStage(ctx.cfg, ctx.creds, arn);
              ctx.go("/stages");
            } catch (err) {
              msg.className = "error";
              msg.textContent = errorText(err);
            }
          } }, "Delete stage"))));
  }

  async function drawSessions(): Promise<void> {
    const row = (s: StageSession) => h("tr", {},
      h("td", {}, h("a", { href: `/stages/${id}/sessions/${s.sessionId}`, "data-link": true, "data-testid": "stage-session-link" }, time(s.startTime))),
      h("td", {}, s.endTime ? fmtDuration(new Date(s.endTime).getTime() - new Date(s.startTime).getTime()) : badge("LIVE", "live")));
    try {
      const first = await listStageSessions(ctx.cfg, ctx.creds, arn);
      const body = h("tbody", {}, ...first.sessions.map(row));
      let next = first.nextToken;
      const older: HTMLButtonElement = h("button", { type: "button", class: "small", hidden: !next, onclick: async () => {
        try {
          const more = await listStageSessions(ctx.cfg, ctx.creds, arn, next);
          body.append(...more.sessions.map(row));
          next = more.nextToken;
          older.hidden = !next;
        } catch (err) {
          error.textContent = errorText(err);
        }
      } }, "Older sessions");
      clear(sessions);
      sessions.append(h("h2", {}, "Sessions"), body.childElementCount
        ? h("div", { class: "table-wrap" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Started"), h("th", {}, "Duration"))), body))
        : h("p", { class: "muted", "data-testid": "no-sessions" }, "No session yet: one starts when the first participant joins."),
        h("div", { class: "pager" }, older));
    } catch (err) {
      error.textContent = errorText(err);
    }
  }

  token.append(tokenForm(ctx, arn));
  poll();
  const timer = window.setInterval(poll, pollEvery);
  const onFocus = () => { poll(); };
  window.addEventListener("focus", onFocus);
  ctx.onLeave(() => {
    clearInterval(timer);
    window.removeEventListener("focus", onFocus);
  });
}

function tokenForm(ctx: Ctx, arn: string): HTMLElement {
  const user = h("input", { id: "token-user", maxlength: 128, placeholder: "alice" });
  const attrs = h("textarea", { id: "token-attributes", rows: 2, placeholder: "displayName=Alice\nrole=host" });
  const publish = h("input", { id: "token-publish", type: "checkbox", checked: true });
  const subscribe = h("input", { id: "token-subscribe", type: "checkbox", checked: true });
  const duration = h("input", { id: "token-duration", type: "number", min: 1, max: 20160, value: 720 });
  const error = h("p", { class: "error", role: "alert", "data-testid": "token-error" });
  const result = h("div", { "aria-live": "polite" });
  const submit = h("button", { type: "submit", "data-testid": "create-token" }, "Create token");
  return h("form", { "aria-labelledby": "token-h", onsubmit: async (e: Event) => {
    e.preventDefault();
    error.textContent = "";
    clear(result);
    submit.disabled = true;
    try {
      const t = await createParticipantToken(ctx.cfg, ctx.creds, arn, {
        userId: user.value.trim() || undefined,
        attributes: keyValues(attrs.value, "Attributes"),
        capabilities: [publish.checked && "PUBLISH", subscribe.checked && "SUBSCRIBE"].filter((c): c is string => !!c),
        duration: duration.value ? Number(duration.value) : undefined,
      });
      // Only this answer has the token: the API cannot show it again.
      result.append(h("div", { class: "token-result", "data-testid": "token-result" },
        h("p", { class: "small" }, "Give this token to the participant; it is shown once."),
        copyable(t.token, "token"),
        h("p", { class: "small" }, h("a", { href: `/stages/join#token=${encodeURIComponent(t.token)}`, target: "_blank", rel: "noopener",
          "data-testid": "token-join" }, "Join the stage with this token"), " (onair's stage page, in a new tab)"),
        h("dl", {},
          h("dt", {}, "Participant ID"), h("dd", {}, h("code", { "data-testid": "token-participant" }, t.participantId)),
          h("dt", {}, "Capabilities"), h("dd", { "data-testid": "token-capabilities" }, t.capabilities.join(", ") || "none"),
          h("dt", {}, "Expires"), h("dd", { "data-testid": "token-expiry" }, time(t.expirationTime)))));
    } catch (err) {
      error.textContent = errorText(err);
    } finally {
      submit.disabled = false;
    }
  } },
    h("h2", { id: "token-h" }, "Create participant token"),
    h("div", { class: "grid" },
      h("label", { for: "token-user" }, "User ID"), user,
      h("label", { for: "token-attributes" }, "Attributes"), attrs,
      h("span", { class: "label", id: "caps-l" }, "Capabilities"),
      h("span", { role: "group", "aria-labelledby": "caps-l", class: "checks" },
        h("label", {}, publish, " PUBLISH"), h("label", {}, subscribe, " SUBSCRIBE")),
      h("label", { for: "token-duration" }, "Duration (minutes)"), duration),
    error, submit, result);
}

/** /stages/{id}/sessions/{sessionId}: a session's participants and what each did. */
export function stageSessionPage(ctx: Ctx, main: HTMLElement, id: string, sessionId: string): void {
  const arn = stageArn(ctx.cfg, id);
  const error = h("p", { class: "error", role: "alert" });
  const summary = h("section", { class: "card" });
  const people = h("div", {});
  main.append(h("p", {}, h("a", { href: `/stages/${id}`, "data-link": true }, "← Stage")),
    h("h1", {}, "Stage session ", h("code", {}, sessionId)), error, summary, people);

  let drawn = "";
  async function load(): Promise<boolean> {
    try {
      const s = await getStageSession(ctx.cfg, ctx.creds, arn, sessionId);
      const ps = await listParticipants(ctx.cfg, ctx.creds, arn, sessionId);
      const events = await Promise.all(ps.map((p) => listParticipantEvents(ctx.cfg, ctx.creds, arn, sessionId, p.participantId)));
      const sig = JSON.stringify([s, ps, events]);
      if (sig !== drawn) {
        drawn = sig;
        clear(summary);
        summary.append(h("dl", {},
          h("dt", {}, "Started"), h("dd", {}, time(s.startTime)),
          h("dt", {}, "Ended"), h("dd", { "data-testid": "session-end" }, s.endTime ? time(s.endTime) : badge("LIVE", "live")),
          ...(s.endTime ? [h("dt", {}, "Duration"), h("dd", {}, fmtDuration(new Date(s.endTime).getTime() - new Date(s.startTime).getTime()))] : []),
          h("dt", {}, "Participants"), h("dd", {}, String(ps.length))));
        clear(people);
        ps.forEach((p, i) => people.append(h("section", { class: "card", "data-testid": `session-participant-${p.participantId}` },
          h("h2", {}, p.userId || p.participantId, " ", h("span", { class: "muted small" }, `${p.participantId} · ${p.state}`)),
          h("ul", { class: "timeline", "data-testid": "participant-events" }, ...events[i].map((ev) => h("li", { class: ev.errorCode ? "warn" : "" },
            h("time", {}, time(ev.eventTime)), " ", h("strong", {}, ev.name),
            ev.remoteParticipantId ? ` ← ${ev.remoteParticipantId}` : "", ev.errorCode ? ` (${ev.errorCode})` : ""))))));
        if (!ps.length) people.append(h("p", { class: "muted" }, "Nobody joined this session."));
      }
      return !s.endTime;
    } catch (err) {
      error.textContent = errorText(err);
      return false;
    }
  }
  // A session still going is followed; an ended one does not change.
  load().then((live) => {
    if (!live) return;
    const timer = window.setInterval(async () => { if (!(await load())) clearInterval(timer); }, pollEvery);
    ctx.onLeave(() => clearInterval(timer));
  });
}

/**
 * /stages/configurations: the encoder configurations (a composition's
 * video) and storage configurations (where recordings go) of the account.
 */
export function stageConfigurationsPage(ctx: Ctx, main: HTMLElement): void {
  const error = h("p", { class: "error", role: "alert" });
  const encoders = h("section", { class: "card", "aria-labelledby": "enc-h" });
  const storages = h("section", { class: "card", "aria-labelledby": "sto-h" });
  main.append(h("p", {}, h("a", { href: "/stages", "data-link": true }, "← Stages")),
    h("div", { class: "titlebar" }, h("h1", {}, "Stage configurations")), error,
    h("div", { class: "columns" }, encoders, storages));

  const del = (what: string, name: string, fn: () => Promise<unknown>, redraw: () => Promise<void>, msg: HTMLElement) =>
    h("button", { type: "button", class: "small", "aria-label": `Delete ${what} ${name}`, onclick: async () => {
      if (!confirm(`Delete ${what} ${name}?`)) return;
      msg.textContent = "";
      try {
        await fn();
        await redraw();
      } catch (err) {
        msg.textContent = errorText(err); // e.g. ConflictException: in use
      }
    } }, "Delete");

  // Encoder configurations: a table and a form with IVS's defaults.
  const encList = h("div", {});
  const encMsg = h("p", { class: "error", role: "alert", "data-testid": "enc-error" });
  const encName = h("input", { id: "enc-name", maxlength: 128, placeholder: "720p" });
  const width = h("input", { id: "enc-width", type: "number", value: 1280 });
  const height = h("input", { id: "enc-height", type: "number", value: 720 });
  const fps = h("input", { id: "enc-fps", type: "number", step: "any", value: 30 });
  const bitrate = h("input", { id: "enc-bitrate", type: "number", value: 2500000 });
  async function drawEncoders(): Promise<void> {
    try {
      const list = await listEncoderConfigurations(ctx.cfg, ctx.creds);
      clear(encList);
      encList.append(list.length
        ? h("div", { class: "table-wrap" }, h("table", {},
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Video"), h("th", {}, ""))),
          h("tbody", {}, ...list.map((e) => h("tr", { "data-testid": "encoder-configuration" },
            h("td", {}, e.name || resourceId(e.arn)),
            h("td", { class: "small" }, e.video ? `${e.video.width}×${e.video.height} · ${e.video.framerate} fps · ${Math.round(e.video.bitrate / 1000)} kbps` : "—"),
            h("td", {}, del("encoder configuration", e.name || resourceId(e.arn), () => deleteEncoderConfiguration(ctx.cfg, ctx.creds, e.arn), drawEncoders, encMsg)))))))
        : h("p", { class: "muted", "data-testid": "no-encoder-configurations" }, "None yet."));
    } catch (err) {
      encMsg.textContent = errorText(err);
    }
  }
  encoders.append(h("h2", { id: "enc-h" }, "Encoder configurations"), encList,
    h("form", { onsubmit: async (e: Event) => {
      e.preventDefault();
      encMsg.textContent = "";
      try {
        await createEncoderConfiguration(ctx.cfg, ctx.creds, encName.value.trim(), {
          width: Number(width.value), height: Number(height.value), framerate: Number(fps.value), bitrate: Number(bitrate.value),
        });
        encName.value = "";
        await drawEncoders();
      } catch (err) {
        encMsg.textContent = errorText(err); // the API's ValidationException names the field
      }
    } }, h("h3", {}, "Create an encoder configuration"),
      h("div", { class: "grid" },
        h("label", { for: "enc-name" }, "Name"), encName,
        h("label", { for: "enc-width" }, "Width"), width,
        h("label", { for: "enc-height" }, "Height"), height,
        h("label", { for: "enc-fps" }, "Frame rate"), fps,
        h("label", { for: "enc-bitrate" }, "Bit rate (bps)"), bitrate),
      encMsg, h("button", { type: "submit", "data-testid": "create-encoder-configuration" }, "Create")));

  // Storage configurations: name and bucket.
  const stoList = h("div", {});
  const stoMsg = h("p", { class: "error", role: "alert", "data-testid": "sto-error" });
  const stoName = h("input", { id: "sto-name", maxlength: 128, placeholder: "recordings" });
  const bucket = h("input", { id: "sto-bucket", maxlength: 63, placeholder: "my-bucket" });
  async function drawStorages(): Promise<void> {
    try {
      const list = await listStorageConfigurations(ctx.cfg, ctx.creds);
      clear(stoList);
      stoList.append(list.length
        ? h("div", { class: "table-wrap" }, h("table", {},
          h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Bucket"), h("th", {}, ""))),
          h("tbody", {}, ...list.map((c) => h("tr", { "data-testid": "storage-configuration" },
            h("td", {}, c.name || resourceId(c.arn)),
            h("td", {}, h("code", {}, c.s3.bucketName)),
            h("td", {}, del("storage configuration", c.name || resourceId(c.arn), () => deleteStorageConfiguration(ctx.cfg, ctx.creds, c.arn), drawStorages, stoMsg)))))))
        : h("p", { class: "muted", "data-testid": "no-storage-configurations" }, "None yet."));
    } catch (err) {
      stoMsg.textContent = errorText(err);
    }
  }
  storages.append(h("h2", { id: "sto-h" }, "Storage configurations"), stoList,
    h("form", { onsubmit: async (e: Event) => {
      e.preventDefault();
      stoMsg.textContent = "";
      try {
        await createStorageConfiguration(ctx.cfg, ctx.creds, stoName.value.trim(), bucket.value.trim());
        stoName.value = "";
        bucket.value = "";
        await drawStorages();
      } catch (err) {
        stoMsg.textContent = errorText(err);
      }
    } }, h("h3", {}, "Create a storage configuration"),
      h("div", { class: "grid" }, h("label", { for: "sto-name" }, "Name"), stoName, h("label", { for: "sto-bucket" }, "S3 bucket"), bucket),
      stoMsg, h("button", { type: "submit", "data-testid": "create-storage-configuration" }, "Create")));

  drawEncoders();
  drawStorages();
}
