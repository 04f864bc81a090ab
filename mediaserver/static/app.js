// mediaserver demo page: one WebRTC call from the microphone, its events shown as they come.
//
// Query parameters: autostart=1 starts at once (kiosk mode, used by the tests); codec=PCMU|PCMA|opus
// restricts what the browser offers; model, language and hot_words are passed as call options.
// An API key goes in the URL fragment (/#key=...), which the browser never sends to the server.
// window.mediaserverEvents holds every event received on the data channel, in order.
// The server's speech (TTS) arrives on the answer's audio track and plays in the <audio> element;
// the text box sends tts.speak on the data channel (tts.cancel stops it).
"use strict";

(() => {
  const LOG_LINES = 200;
  const ICE_GATHERING_TIMEOUT_MS = 3000;
  const CLOSE_TIMEOUT_MS = 3000;

  const params = new URLSearchParams(window.location.search);
  const apiKey = new URLSearchParams(window.location.hash.slice(1)).get("key");
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
  };

  let pc = null;
  let channel = null;
  let stream = null;
  let sender = null;
  let closedSeen = null;

  const status = { callId: null, state: "idle", error: null, connection: "new" };

  function setState(state) {
    status.state = state;
    ui.state.textContent = state;
    ui.state.dataset.state = state;
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
    for (const key of ["model", "language"]) {
      if (params.has(key)) options[key] = params.get(key);
    }
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
        headers: {
          "Content-Type": "application/json",
          ...(apiKey ? { Authorization: `Bearer ${apiKey}` } : {}),
        },
        body: JSON.stringify({ sdp: pc.localDescription.sdp, type: "offer", ...callOptions() }),
      });
      const body = await response.json();
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

  ui.start.addEventListener("click", start);
  ui.stop.addEventListener("click", stop);
  ui.speakForm.addEventListener("submit", (event) => {
    event.preventDefault();
    if (speak(ui.speakText.value)) ui.speakText.value = "";
  });
  ui.speakCancel.addEventListener("click", cancelSpeech);
  // `peer()`: the live RTCPeerConnection (or null), for getStats() from the console or tests.
  window.mediaserverDemo = { start, stop, sendDtmf, speak, cancelSpeech, status, peer: () => pc };

  if (params.get("autostart") === "1") start();
})();
