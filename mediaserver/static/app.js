// mediaserver demo page: one WebRTC call from the microphone, its events shown as they come.
//
// The model and language pickers are filled from GET /v1/models (and GET /ready, which names the
// server's default model and whether it is installed). The API key field is needed only when the
// server has keys; it may be prefilled from the URL fragment (/#key=...), which the browser never
// sends to the server. Errors (a refused offer, a missing model, a call's `error` event) show in
// red above the call, and the state badge turns red.
// Query parameters: autostart=1 starts at once (kiosk mode, used by the tests); codec=PCMU|PCMA|opus
// restricts what the browser offers; model, language preselect the pickers; hot_words is passed
// as a call option.
// window.mediaserverEvents holds every event received on the data channel, in order.
// The server's speech (TTS) arrives on the answer's audio track and plays in the <audio> element;
// the text box sends tts.speak on the data channel (tts.cancel stops it).
"use strict";

(() => {
  const LOG_LINES = 200;
  const ICE_GATHERING_TIMEOUT_MS = 3000;
  const CLOSE_TIMEOUT_MS = 3000;

  // Offered when a model is multilingual (its languages are ["auto"]); pt first: the server's own.
  const COMMON_LANGUAGES = ["pt", "en", "es", "fr", "de", "it"];

  const params = new URLSearchParams(window.location.search);
  const events = [];
  window.mediaserverEvents = events;

  const ui = {
    start: document.getElementById("start"),
    stop: document.getElementById("stop"),
    state: document.getElementById("state"),
    callId: document.getElementById("call-id"),
    partial: document.getElementById("partial"),
    finals: document.getElementById("finals"),
    log: document.getElementById("log"),
    keypad: document.getElementById("keypad"),
    speakForm: document.getElementById("speak-form"),
    speakText: document.getElementById("speak-text"),
    speak: document.getElementById("speak"),
    speakCancel: document.getElementById("speak-cancel"),
    speaking: document.getElementById("speaking"),
    remote: document.getElementById("remote"),
    model: document.getElementById("model"),
    language: document.getElementById("language"),
    apiKey: document.getElementById("api-key"),
    error: document.getElementById("error"),
    note: document.getElementById("note"),
  };
  ui.apiKey.value = new URLSearchParams(window.location.hash.slice(1)).get("key") || "";

  let pc = null;
  let channel = null;
  let stream = null;
  let sender = null;
  let closedSeen = null;

  const status = { callId: null, state: "idle", error: null, connection: "new", models: [] };
  let models = []; // rows of GET /v1/models of type "stt"

  function setState(state) {
    status.state = state;
    // A call that failed stays red until it ends: its state goes on, but no transcript will come.
    const shown = status.error && state !== "closed" ? "error" : state;
    ui.state.textContent = shown;
    ui.state.dataset.state = shown;
  }

  // `message` may hold `code` spans, shown as code (the text itself is never parsed as HTML).
  function showError(message) {
    ui.error.replaceChildren();
    message.split("`").forEach((piece, i) => {
      const node = i % 2 ? document.createElement("code") : document.createTextNode(piece);
      if (i % 2) node.textContent = piece;
      ui.error.appendChild(node);
    });
    ui.error.hidden = false;
  }

  function clearError() {
    ui.error.hidden = true;
    ui.error.replaceChildren();
  }

  function authHeaders() {
    const key = ui.apiKey.value.trim();
    return key ? { Authorization: `Bearer ${key}` } : {};
  }

  function addOption(select, value, label) {
    if ([...select.options].some((o) => o.value === value)) return;
    const option = document.createElement("option");
    option.value = value;
    option.textContent = label || value;
    select.appendChild(option);
  }

  function fillLanguages() {
    const chosen = ui.language.value || params.get("language") || "";
    const row = models.find((m) => m.id === ui.model.value);
    const languages = row && row.languages.length && !row.languages.includes("auto")
      ? row.languages : COMMON_LANGUAGES;
    ui.language.replaceChildren();
    addOption(ui.language, "", "detect");
    languages.forEach((code) => addOption(ui.language, code));
    if (chosen) addOption(ui.language, chosen);
    ui.language.value = chosen;
  }

  async function getJson(path) {
    const response = await fetch(path, { headers: authHeaders() });
    const body = await response.json().catch(() => ({}));
    if (response.status === 401) {
      throw new Error(ui.apiKey.value.trim()
        ? "The API key was refused: check the API key field."
        : "This server needs an API key: enter one in the API key field.");
    }
    if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
    return body;
  }

  // The pickers: installed STT models, and what the server's default is (and whether it is there).
  async function loadModels() {
    try {
      const [listed, ready] = await Promise.all([getJson("/v1/models"), getJson("/ready")]);
      models = listed.data.filter((m) => m.type === "stt");
      status.models = models.map((m) => m.id);
      const chosen = ui.model.value;
      const info = ready.models || {};
      const fallback = info.default_stt ? `server default (${info.default_stt})` : "server default";
      ui.model.replaceChildren();
      addOption(ui.model, "", fallback);
      models.forEach((m) => addOption(ui.model, m.id));
      if (chosen) addOption(ui.model, chosen);
      const missing = (info.missing || []).includes(info.default_stt);
      // The default is missing but another model is there: use that one rather than none.
      ui.model.value = chosen || (missing && models.length ? models[0].id : "");
      fillLanguages();
      if (missing && !models.length) {
        showError(`No speech-to-text model is installed (the default, ${info.default_stt}, is ` +
          `missing): calls will get no transcript. On the server run ` +
          `\`mediaserver pull ${info.default_stt}\`, then reload this page.`);
      } else {
        if (!pc) clearError();
        ui.note.textContent = missing
          ? `The server's default model ${info.default_stt} is not installed.` : "";
      }
    } catch (err) {
      showError(String(err.message || err));
    }
  }

  function logLine(text) {
    const line = document.createElement("div");
    line.textContent = text;
    ui.log.appendChild(line);
    while (ui.log.childElementCount > LOG_LINES) ui.log.firstElementChild.remove();
    ui.log.scrollTop = ui.log.scrollHeight;
  }

  function onEvent(event) {
    events.push(event);
    logLine(JSON.stringify(event));
    switch (event.type) {
      case "error":
        showError(event.message || event.code || "error");
        if (event.recoverable === false) {
          status.error = event.message || event.code;
          setState(status.state);
        }
        break;
      case "session.state":
        setState(event.to);
        break;
      case "transcript.partial":
        ui.partial.textContent = event.text || "";
        break;
      case "transcript.final": {
        const item = document.createElement("li");
        item.textContent = event.text || "";
        ui.finals.appendChild(item);
        ui.partial.textContent = "";
        break;
      }
      case "tts.speaking_start":
        ui.speaking.hidden = false;
        break;
      case "tts.speaking_end":
        ui.speaking.hidden = true;
        break;
      case "session.closed":
        setState("closed");
        if (closedSeen) closedSeen();
        teardown();
        break;
      default:
        break;
    }
  }

  function callOptions() {
    const options = {};
    if (ui.model.value) options.model = ui.model.value;
    if (ui.language.value) options.language = ui.language.value;
    if (params.has("hot_words")) {
      options.hot_words = params.get("hot_words").split(",").map((w) => w.trim()).filter(Boolean);
    }
    return options;
  }

  function preferCodec(transceiver, name) {
    if (!name || !RTCRtpSender.getCapabilities) return;
    const wanted = `audio/${name}`.toLowerCase();
    const codecs = RTCRtpSender.getCapabilities("audio").codecs.filter((c) => {
      const mime = c.mimeType.toLowerCase();
      return mime === wanted || mime === "audio/telephone-event";
    });
    if (codecs.some((c) => c.mimeType.toLowerCase() === wanted)) {
      transceiver.setCodecPreferences(codecs);
    }
  }

  function iceGatheringDone() {
    // aiortc takes no trickled candidates: the offer must carry them all.
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ICE_GATHERING_TIMEOUT_MS);
      pc.addEventListener("icegatheringstatechange", () => {
        if (pc.iceGatheringState === "complete") {
          clearTimeout(timer);
          resolve();
        }
      });
    });
  }

  async function start() {
    if (pc) return;
    ui.start.disabled = true;
    status.error = null;
    clearError();
    setState("connecting");
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: false, autoGainControl: false },
      });
      pc = new RTCPeerConnection({ iceServers: [] });
      pc.addEventListener("connectionstatechange", () => {
        status.connection = pc ? pc.connectionState : "closed";
        if (status.connection === "failed") fail(new Error("connection failed"));
      });
      channel = pc.createDataChannel("events");
      channel.addEventListener("message", (message) => {
        try {
          onEvent(JSON.parse(message.data));
        } catch (err) {
          logLine(`unreadable event: ${err}`);
        }
      });
      const track = stream.getAudioTracks()[0];
      // sendrecv: the server answers with its speech on the same transceiver.
      const transceiver = pc.addTransceiver(track, { direction: "sendrecv", streams: [stream] });
      pc.addEventListener("track", (event) => {
        ui.remote.srcObject = event.streams[0] || new MediaStream([event.track]);
      });
      sender = transceiver.sender;
      preferCodec(transceiver, params.get("codec"));
      await pc.setLocalDescription(await pc.createOffer());
      await iceGatheringDone();
      const response = await fetch("/v1/webrtc/offer", {
        method: "POST",
        headers: { "Content-Type": "application/json", ...authHeaders() },
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", ...callOptions() }),
      });
      const body = await response.json().catch(() => ({}));
      if (response.status === 401) throw new Error("The API key is missing or wrong: enter it in the API key field.");
      if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
      status.callId = body.id;
      ui.callId.textContent = body.id;
      await pc.setRemoteDescription({ type: body.type, sdp: body.sdp });
      ui.stop.disabled = false;
      setSpeakEnabled(true);
    } catch (err) {
      fail(err);
    }
  }

  async function stop() {
    ui.stop.disabled = true;
    if (channel && channel.readyState === "open") {
      const closed = new Promise((resolve) => {
        closedSeen = resolve;
        setTimeout(resolve, CLOSE_TIMEOUT_MS);
      });
      channel.send(JSON.stringify({ type: "session.close" }));
      await closed;
    }
    teardown();
  }

  function sendDtmf(tones) {
    if (!sender || !sender.dtmf || !sender.dtmf.canInsertDTMF) return false;
    sender.dtmf.insertDTMF(tones, 120, 80);
    return true;
  }

  function setSpeakEnabled(on) {
    ui.speakText.disabled = ui.speak.disabled = ui.speakCancel.disabled = !on;
    if (!on) ui.speaking.hidden = true;
  }

  function command(message) {
    if (!channel || channel.readyState !== "open") return false;
    channel.send(JSON.stringify(message));
    return true;
  }

  function speak(text) {
    return Boolean(text && text.trim()) && command({ type: "tts.speak", text });
  }

  function cancelSpeech() {
    return command({ type: "tts.cancel" });
  }

  function teardown() {
    setSpeakEnabled(false);
    if (ui.remote) ui.remote.srcObject = null;
    if (pc) pc.close();
    if (stream) stream.getTracks().forEach((t) => t.stop());
    pc = channel = stream = sender = closedSeen = null;
    status.connection = "closed";
    ui.start.disabled = false;
    ui.stop.disabled = true;
  }

  function fail(err) {
    status.error = String(err && err.message ? err.message : err);
    logLine(`error: ${status.error}`);
    showError(status.error);
    setState("error");
    teardown();
  }

  for (const key of "123456789*0#") {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = key;
    button.addEventListener("click", () => sendDtmf(key));
    ui.keypad.appendChild(button);
  }

  // Preselect what the URL names, before the lists arrive (autostart does not wait for them).
  if (params.get("model")) addOption(ui.model, params.get("model"));
  ui.model.value = params.get("model") || "";
  fillLanguages();
  ui.model.addEventListener("change", fillLanguages);
  ui.apiKey.addEventListener("change", loadModels);
  ui.start.addEventListener("click", start);
  ui.stop.addEventListener("click", stop);
  ui.speakForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (speak(ui.speakText.value)) ui.speakText.value = "";
  });
  ui.speakCancel.addEventListener("click", cancelSpeech);
  // `peer()`: the live RTCPeerConnection (or null), for getStats() from the console or tests.
  window.mediaserverDemo = {
    start, stop, sendDtmf, speak, cancelSpeech, loadModels, status, peer: () => pc,
  };

  const loaded = loadModels();
  window.mediaserverDemo.loaded = loaded;
  if (params.get("autostart") === "1") start();
})();
