package dev.enclave.cli.demo;

/**
 * The demo app's page and script (no framework; text is only ever set as text, never as HTML).
 * The answer arrives over a WebSocket to {@code /ask}, one message per piece of text; the answer
 * box records how ({@code data-transport}), how many pieces came ({@code data-pieces}) and how it
 * ended ({@code data-state}: {@code done} or {@code error}), for a person in the page's status
 * line and for the browser test.
 */
final class DemoPage {
    private DemoPage() {
    }

    static final String HTML = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Enclave demo app</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <link rel="stylesheet" href="/app.css">
            </head><body>
            <h1>Enclave demo app</h1>
            <p>This page runs inside network namespace <code>enclave-app</code>. It can reach two things: the LLM relay
            (which adds the API key this app never sees) and the egress proxy (which allows only what the config names).</p>
            <h2>Ask the LLM</h2>
            <textarea id="prompt" rows="3">Say hello in five words.</textarea>
            <button id="ask">Ask</button>
            <pre id="answer"></pre>
            <p id="status"></p>
            <h2>Try to reach a URL</h2>
            <input id="url" value="https://example.com/">
            <button id="reach">Try</button>
            <pre id="reached"></pre>
            <script src="/app.js"></script>
            </body></html>
            """;

    /** Served as a file: the page's Content-Security-Policy ({@code default-src 'self'}) refuses inline styles. */
    static final String STYLE = """
            body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
            textarea,input{width:100%;box-sizing:border-box;font:inherit;padding:.4rem}
            button{font:inherit;margin:.4rem 0;padding:.3rem 1rem}
            pre{white-space:pre-wrap;background:#f4f4f4;padding:.6rem;min-height:2rem}
            """;

    static final String SCRIPT = """
            'use strict';
            const $ = id => document.getElementById(id);
            $('ask').onclick = () => {
              const out = $('answer');
              const status = $('status');
              out.textContent = '';
              out.dataset.transport = '';
              out.dataset.pieces = '0';
              out.dataset.state = 'asking';
              status.textContent = 'opening a WebSocket...';
              const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
              const ws = new WebSocket(scheme + location.host + '/ask');
              const end = (state, note) => {
                if (out.dataset.state !== 'asking') return;
                out.dataset.state = state;
                if (note) out.textContent += (out.textContent ? '\\n' : '') + '[' + note + ']';
                status.textContent = 'streamed over a WebSocket: ' + out.dataset.pieces + ' pieces, ' + state;
                ws.close();
              };
              ws.onopen = () => {
                out.dataset.transport = 'websocket';
                status.textContent = 'asking over a WebSocket...';
                ws.send($('prompt').value);
              };
              ws.onmessage = event => {
                const m = JSON.parse(event.data);
                if (typeof m.text === 'string') {
                  out.textContent += m.text;
                  out.dataset.pieces = String(Number(out.dataset.pieces) + 1);
                } else if (typeof m.error === 'string') {
                  end('error', m.error);
                } else if (m.done) {
                  end('done');
                }
              };
              ws.onclose = event => end('error', 'the connection closed before the answer ended (' + event.code
                  + (event.reason ? ': ' + event.reason : '') + ')');
            };
            $('reach').onclick = async () => {
              $('reached').textContent = '...';
              const res = await fetch('/reach', {method: 'POST', headers: {'X-Demo': '1'}, body: $('url').value});
              $('reached').textContent = await res.text();
            };
            """;
}
