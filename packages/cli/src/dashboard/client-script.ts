// The pages' only script: Server-Sent Events keep the jobs table and the run log current
// without a reload. Plain ES2020 in a string, served inline, so there is nothing to fetch.
export const CLIENT_SCRIPT = `
(function () {
  var table = document.getElementById('jobs');
  var status = document.getElementById('live-status');
  if (table && window.EventSource) {
    var body = table.tBodies[0];
    var source = new EventSource(table.getAttribute('data-stream'));
    source.addEventListener('open', function () { status.textContent = 'Live: changes appear as they happen.'; });
    source.addEventListener('error', function () { status.textContent = 'Live updates interrupted; reconnecting…'; });
    source.addEventListener('problem', function (e) { status.textContent = JSON.parse(e.data).message; status.className = 'error'; });
    source.addEventListener('sync', function (e) {
      var sync = JSON.parse(e.data);
      var rows = body.querySelectorAll('tr');
      for (var i = 0; i < rows.length; i++) {
        var key = rows[i].getAttribute('data-key');
        if (key.indexOf(sync.prefix) === 0 && sync.keys.indexOf(key) < 0) rows[i].remove();
      }
      status.textContent = 'Live: changes appear as they happen.'; status.className = 'live';
    });
    source.addEventListener('job', function (e) {
      var change = JSON.parse(e.data);
      var rows = body.querySelectorAll('tr');
      var existing = null;
      for (var i = 0; i < rows.length; i++) if (rows[i].getAttribute('data-key') === change.key) existing = rows[i];
      if (change.type === 'DELETED' || !change.html) { if (existing) existing.remove(); return; }
      var holder = document.createElement('tbody');
      holder.innerHTML = change.html;
      var row = holder.firstElementChild;
      if (existing) existing.replaceWith(row); else body.insertBefore(row, body.firstChild);
    });
  }
  var log = document.getElementById('log');
  var logStatus = document.getElementById('log-status');
  if (log && window.EventSource) {
    var logSource = new EventSource(log.getAttribute('data-stream'));
    logSource.addEventListener('open', function () { logStatus.textContent = 'Streaming the run log.'; });
    logSource.addEventListener('line', function (e) { log.textContent += JSON.parse(e.data) + '\\n'; log.scrollTop = log.scrollHeight; });
    logSource.addEventListener('problem', function (e) {
      logStatus.textContent = JSON.parse(e.data).message; logStatus.className = 'error'; logStatus.setAttribute('role', 'alert');
      logSource.close();
    });
    logSource.addEventListener('end', function () { logStatus.textContent = 'The container has ended.'; logSource.close(); });
  }
})();
`;
