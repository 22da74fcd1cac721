// The console's static assets, served from memory under /static/ (no CDN, no files to install). The script is
// a served file because the Content-Security-Policy forbids inline script.

export const CONSOLE_CSS = `
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d1d1d;background:#f4f5f7}
header{background:#1f3a5f;color:#fff;padding:8px 16px;display:flex;align-items:center;gap:16px}
header h1{font-size:16px;margin:0 16px 0 0}
header nav a{color:#dbe6f5;margin-right:12px;text-decoration:none}
header nav a.current{color:#fff;font-weight:600;border-bottom:2px solid #fff}
header form{margin-left:auto}
main{padding:16px;max-width:1200px}
h2{font-size:15px;margin:20px 0 8px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border:1px solid #d8dce3;border-radius:4px;padding:12px;min-width:320px;flex:1}
.card h3{margin:0 0 8px;font-size:15px}
.ok{color:#2e7d32;font-weight:600}.bad{color:#c62828;font-weight:600}.warn{color:#ef6c00;font-weight:600}
table{border-collapse:collapse;background:#fff;width:100%}
th,td{border:1px solid #d8dce3;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#eef1f5}
td.num{text-align:right}
dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}
dt{color:#555}dd{margin:0}
.chart{width:100%;height:auto;background:#fff;border:1px solid #d8dce3}
.legend span{margin-right:12px}
.sw{display:inline-block;width:10px;height:10px;margin-right:4px}
.sw-synced{background:#2e7d32}.sw-retried{background:#ef6c00}.sw-rejected{background:#c62828}.sw-superseded{background:#6a6a6a}
form.inline{display:inline}
.notice{background:#fff8e1;border:1px solid #ffe082;padding:8px;margin:8px 0}
.error{background:#ffebee;border:1px solid #ef9a9a;padding:8px;margin:8px 0}
.login{max-width:360px;margin:80px auto;background:#fff;padding:24px;border:1px solid #d8dce3}
.login input[type=password]{width:100%;padding:6px;margin:8px 0}
code{font-size:12px}
`;

export const CONSOLE_JS = `// pwsync console: confirmation of destructive actions and the overview's auto-refresh. No data handling here.
document.addEventListener('submit', function (ev) {
  var f = ev.target;
  if (f && f.dataset && f.dataset.confirm && !window.confirm(f.dataset.confirm)) ev.preventDefault();
});
(function () {
  var s = document.body && document.body.dataset.refresh;
  if (s) setTimeout(function () { location.reload(); }, Number(s) * 1000);
})();
`;
