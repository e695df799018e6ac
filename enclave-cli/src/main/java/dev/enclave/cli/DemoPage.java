package dev.enclave.cli;

/** The demo app's page and script (no framework; text is only ever set as text, never as HTML). */
final class DemoPage {
    private DemoPage() {
    }

    static final String HTML = """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><title>Enclave demo app</title>
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <style>
            body{font:16px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}
            textarea,input{width:100%;box-sizing:border-box;font:inherit;padding:.4rem}
            button{font:inherit;margin:.4rem 0;padding:.3rem 1rem}
            pre{white-space:pre-wrap;background:#f4f4f4;padding:.6rem;min-height:2rem}
            </style></head><body>
            <h1>Enclave demo app</h1>
            <p>This page runs inside network namespace <code>enclave-app</code>. It can reach two things: the LLM relay
            (which adds the API key this app never sees) and the egress proxy (which allows only what the config names).</p>
            <h2>Ask the LLM</h2>
            <textarea id="prompt" rows="3">Say hello in five words.</textarea>
            <button id="ask">Ask</button>
            <pre id="answer"></pre>
            <h2>Try to reach a URL</h2>
            <input id="url" value="https://example.com/">
            <button id="reach">Try</button>
            <pre id="reached"></pre>
            <script src="/app.js"></script>
            </body></html>
            """;

    static final String SCRIPT = """
            'use strict';
            const $ = id => document.getElementById(id);
            $('ask').onclick = async () => {
              const out = $('answer');
              out.textContent = '';
              const res = await fetch('/ask', {method: 'POST', headers: {'X-Demo': '1'}, body: $('prompt').value});
              const reader = res.body.getReader();
              const decoder = new TextDecoder();
              let buffer = '';
              for (;;) {
                const {value, done} = await reader.read();
                if (done) break;
                buffer += decoder.decode(value, {stream: true});
                let end;
                while ((end = buffer.indexOf('\\n\\n')) >= 0) {
                  const block = buffer.slice(0, end);
                  buffer = buffer.slice(end + 2);
                  const name = (block.match(/^event: (.*)$/m) || [])[1];
                  const data = JSON.parse((block.match(/^data: (.*)$/m) || [, '""'])[1]);
                  if (name === 'text') out.textContent += data;
                  if (name === 'error') out.textContent += '\\n[' + data + ']';
                }
              }
            };
            $('reach').onclick = async () => {
              $('reached').textContent = '...';
              const res = await fetch('/reach', {method: 'POST', headers: {'X-Demo': '1'}, body: $('url').value});
              $('reached').textContent = await res.text();
            };
            """;
}
