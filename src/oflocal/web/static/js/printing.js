/* The printing page: the proof, print batches rendered in the background, their
 * progress, the PDF download, and reprints of damaged booklets.
 *
 * Starting a job issues new booklet codes, and the server does not take an
 * Idempotency-Key for it, so this page never re-sends a start by itself: when the answer
 * is lost it reloads the job list, where staff can see whether the job did start.
 * Progress is polled every config.poll_ms (one request at a time, never piling up).
 * The PDF is a plain link: the browser streams it from the server's file to disk.
 */
(function () {
  "use strict";
  var O = window.Oflocal, Codes = window.OflocalCodes, $ = O.$;
  var config = O.pageConfig();
  if (!$("print-form")) return;
  var L = config.labels[config.lang];
  var ACTIVE = { queued: true, running: true };

  var dateTime = new Intl.DateTimeFormat("ja-JP", {
    timeZone: "Asia/Tokyo", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", hour12: false
  });

  function number(n) { return String(Math.round(Number(n) || 0)).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }

  function size(bytes) {
    if (bytes == null) return "";
    if (bytes < 1000000) return Math.max(1, Math.round(bytes / 1000)) + " KB";
    return (bytes / 1000000).toFixed(1) + " MB";
  }

  function bookletsText(n) { return n === 1 ? L.booklet_one : O.fill(L.booklets, { n: number(n) }); }

  /* The same label in both languages: the page's first, the other second. */
  function both(key, facts) {
    return O.bilingual(config.lang, O.fill(config.labels.ja[key], facts),
                       O.fill(config.labels.en[key], facts));
  }

  function programmeId() { return Number($("programme").value); }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text != null) node.textContent = String(text);
    return node;
  }

  function answerRefusal(answer) {
    return O.serverRefusal(config, answer.body) ||
      O.bilingual(config.lang, "HTTP " + answer.status, "HTTP " + answer.status);
  }

  /* ------------------------------------------------------------ a job's progress */

  /* "作成中 123 / 1,000冊 (12%)"; a failed job says so in its red box instead. */
  function progressText(job) {
    if (job.status === "failed") return "";
    return O.fill(L[job.status === "queued" || job.status === "done" ? job.status : "running"], {
      done: number(job.done_booklets), total: number(job.total_booklets), percent: job.percent
    });
  }

  /* Draw a job into a panel made by the template's job_panel() macro. */
  function showJob(panel, job) {
    panel.hidden = false;
    var bar = panel.querySelector(".job-progress");
    bar.max = Math.max(job.total_booklets, 1);
    bar.value = job.done_booklets;
    O.setText(panel.querySelector(".job-text"), progressText(job));
    var link = panel.querySelector(".job-download");
    var failed = panel.querySelector(".job-failed");
    if (job.status === "done" && job.download_url) {
      link.href = job.download_url;
      O.setText(link, O.fill(L.download, { size: size(job.file_bytes) }));
      link.hidden = false;
    } else {
      link.hidden = true;
    }
    if (job.status === "failed") {
      var texts = both("failed", {});
      O.showRefusal(failed, { primary: texts.primary,
                              secondary: texts.secondary + (job.error ? " — " + job.error : "") });
    } else {
      failed.hidden = true;
    }
  }

  /* ------------------------------------------------------------ polling */

  var followed = {};   // job id → panel showing it (jobs started from this page)
  var active = {};     // job id → true while queued or running
  var latest = {};     // job id → last status seen
  var polling = false;

  function follow(job, panel) {
    latest[job.id] = job;
    if (panel) {
      Object.keys(followed).forEach(function (id) { if (followed[id] === panel) delete followed[id]; });
      followed[job.id] = panel;
      showJob(panel, job);
    }
    if (ACTIVE[job.status]) {
      active[job.id] = true;
      poll();
    }
  }

  function poll() {
    if (polling) return;
    var ids = Object.keys(active);
    if (!ids.length) return;
    polling = true;
    setTimeout(function () {
      Promise.all(ids.map(function (id) {
        return O.getJSON("/api/v1/print-jobs/" + id).then(function (job) { return job; },
                                                        function () { return null; });
      })).then(function (jobs) {
        var finished = false;
        jobs.forEach(function (job) {
          if (!job) return;  // no answer this time: asked again next round
          latest[job.id] = job;
          if (followed[job.id]) showJob(followed[job.id], job);
          updateRow(job);
          if (!ACTIVE[job.status]) {
            delete active[job.id];
            finished = true;
          }
        });
        polling = false;
        if (finished) {
          loadProgramme();
          loadJobs();
        }
        poll();
      });
    }, config.poll_ms);
  }

  /* ------------------------------------------------------------ the job list */

  function jobTitle(job) {
    var isReprint = String(job.reason || "").indexOf("reprint:") === 0;
    var parts = [dateTime.format(new Date(job.created_at))];
    if (job.batch_number != null) parts.push(O.fill(L.batch, { n: job.batch_number }));
    if (isReprint) parts.push(L.reprint);
    parts.push(bookletsText(job.total_booklets));
    return parts.join(" · ");
  }

  function jobRow(job) {
    var li = el("li", "job job-" + job.status);
    li.setAttribute("data-job", String(job.id));
    li.appendChild(el("p", "job-title", jobTitle(job)));
    var panel = el("div", "job-panel");
    var bar = el("progress", "job-progress");
    panel.appendChild(bar);
    panel.appendChild(el("p", "job-text"));
    var link = el("a", "btn secondary small job-download");
    link.setAttribute("download", "");
    panel.appendChild(link);
    var failed = el("div", "refusal job-failed");
    failed.appendChild(el("p", "refusal-primary"));
    failed.appendChild(el("p", "refusal-secondary"));
    panel.appendChild(failed);
    li.appendChild(panel);
    showJob(panel, job);
    bar.hidden = !ACTIVE[job.status];  // a full bar on every finished job is only noise
    return li;
  }

  function updateRow(job) {
    var old = document.querySelector('#jobs li[data-job="' + job.id + '"]');
    if (old) old.parentNode.replaceChild(jobRow(job), old);
  }

  var jobsAsked = 0;
  function loadJobs() {
    var asked = ++jobsAsked, pid = programmeId();
    O.getJSON("/api/v1/programmes/" + pid + "/print-jobs").then(function (jobs) {
      if (asked !== jobsAsked) return;  // a newer request (another programme) wins
      var list = $("jobs");
      list.textContent = "";
      if (!jobs.length) list.appendChild(el("li", "muted", L.no_jobs));
      jobs.forEach(function (job) {
        list.appendChild(jobRow(job));
        if (ACTIVE[job.status]) follow(job, null);  // started earlier, maybe elsewhere
      });
    }, function () { /* the list stays as it was; the next change reloads it */ });
  }

  /* ------------------------------------------------------------ the programme */

  var programmeAsked = 0;
  function loadProgramme() {
    var asked = ++programmeAsked;
    O.getJSON("/api/v1/programmes/" + programmeId()).then(function (p) {
      if (asked !== programmeAsked) return;
      O.setText($("counts"), O.fill(L.counts, {
        printed: number(p.booklets.printed), in_stock: number(p.booklets.in_stock),
        sold: number(p.booklets.sold), voided: number(p.booklets.voided)
      }));
      var body = $("batches");
      body.textContent = "";
      if (!p.batches.length) {
        var empty = el("tr");
        var cell = el("td", "muted", L.no_batches);
        cell.colSpan = 5;
        empty.appendChild(cell);
        body.appendChild(empty);
      }
      p.batches.slice().reverse().forEach(function (b) {
        var tr = el("tr");
        tr.appendChild(el("td", "num", O.fill(L.batch, { n: b.number })));
        tr.appendChild(el("td", "num", number(b.booklet_count)));
        tr.appendChild(el("td", "num", "No. " + b.first_serial + "–" + b.last_serial));
        tr.appendChild(el("td", null, dateTime.format(new Date(b.created_at))));
        tr.appendChild(el("td", null, b.reason));
        body.appendChild(tr);
      });
    }, function () { /* counts stay as they were */ });
  }

  /* ------------------------------------------------------------ the proof */

  var proof = $("proof"), proofStatus = $("proof-status"), proofFailed = $("proof-failed");
  function proofLoaded() { proofStatus.hidden = true; proofFailed.hidden = true; proof.hidden = false; }
  function proofBroken() {
    proofStatus.hidden = true;
    proof.hidden = true;
    O.showRefusal(proofFailed, both("proof_failed", {}));
  }
  proof.addEventListener("load", proofLoaded);
  proof.addEventListener("error", proofBroken);
  if (proof.complete) {
    if (proof.naturalWidth > 0) proofLoaded(); else proofBroken();
  }
  function loadProof() {
    var url = "/api/v1/programmes/" + programmeId() + "/proof.png";
    proofStatus.hidden = false;
    proofFailed.hidden = true;
    $("proof-link").href = url;
    proof.src = url;
  }

  /* ------------------------------------------------------------ starting a print */

  var printing = false;

  var pendingKey = null, pendingCount = null;
  $("print-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (printing) return;
    var count = Number($("print-count").value);
    if (!(count >= 1 && count <= config.max_count && count === Math.floor(count))) return;
    if (!window.confirm(O.fill(L.print_confirm, { n: number(count) }))) return;
    printing = true;
    var button = $("print-button"), label = button.textContent;
    button.disabled = true;
    O.setText(button, L.sending);
    $("print-error").hidden = true;
    // One key per attempt; a retry after a lost answer re-sends it, so the server
    // returns the job it already started instead of issuing a second batch.
    if (!(pendingKey && pendingCount === count)) {
      pendingKey = O.newKey();
      pendingCount = count;
    }
    O.postJSON("/api/v1/programmes/" + programmeId() + "/print-jobs", { count: count },
               pendingKey)
      .then(function (answer) {
        pendingKey = null;
        if (answer.status === 202) {
          follow(answer.body, $("print-job"));
          loadJobs();
        } else {
          O.showRefusal($("print-error"), answerRefusal(answer));
        }
      }, function () {
        O.showRefusal($("print-error"), both("network", {}));
        loadJobs();
      })
      .then(function () {
        printing = false;
        button.disabled = false;
        O.setText(button, label);
      });
  });

  /* ------------------------------------------------------------ reprints */

  var reprintCodes = [], reprintFacts = {};  // what the server says of each scanned booklet
  var reprintMsg = $("reprint-msg"), reprintInput = $("reprint-code");
  var reprintAsk = $("reprint-confirm");

  function renderReprint() {
    var list = $("reprint-lines");
    list.textContent = "";
    reprintCodes.forEach(function (code, index) {
      var li = el("li");
      li.appendChild(el("span", "line-code", Codes.grouped(code)));
      var b = reprintFacts[code];
      li.appendChild(el("span", "muted", O.fill(L.line_facts, {
        serial: b.serial, tickets: b.tickets, face: O.yen(b.face_value) })));
      var remove = el("button", "btn plain small", L.remove);
      remove.type = "button";
      remove.addEventListener("click", function () {
        reprintCodes.splice(index, 1);
        reprintAsk.hidden = true;
        renderReprint();
        reprintInput.focus();
      });
      li.appendChild(remove);
      list.appendChild(li);
    });
    $("reprint-empty").hidden = reprintCodes.length > 0;
  }

  $("reprint-scan").addEventListener("submit", function (event) {
    event.preventDefault();
    var text = reprintInput.value;
    reprintInput.value = "";
    reprintInput.focus();
    reprintMsg.hidden = true;
    if (!String(text).trim()) return;
    var parsed = Codes.parse(text), shown = String(text).slice(0, 40);
    if (!parsed.ok) {
      O.showRefusal(reprintMsg, O.clientRefusal(config, "code." + parsed.reason, { code: shown }));
    } else if (parsed.kind !== "B") {
      O.showRefusal(reprintMsg, O.clientRefusal(config, "code.not_a_booklet", { code: shown }));
    } else if (reprintCodes.indexOf(parsed.code) >= 0) {
      O.showRefusal(reprintMsg, O.clientRefusal(config, "sale.duplicate_code",
                                                { code: Codes.grouped(parsed.code) }));
    } else {
      // Only unsold stock can be reprinted: ask the server before the line is added.
      O.fetchJSON("/api/v1/booklets/" + encodeURIComponent(parsed.code)).then(function (answer) {
        var b = answer.body;
        if (answer.status !== 200) {
          O.showRefusal(reprintMsg, answerRefusal(answer));
        } else if (!b.voidable) {
          O.showRefusal(reprintMsg, O.clientRefusal(config, b.status === "sold" ?
            "booklet.not_voidable" : "booklet.voided", { code: Codes.grouped(b.code) }));
        } else if (reprintCodes.indexOf(b.code) < 0) {
          reprintFacts[b.code] = b;
          reprintCodes.push(b.code);
          reprintAsk.hidden = true;
          renderReprint();
        }
      }, function () { O.showRefusal(reprintMsg, both("network", {})); });
    }
  });

  var reprinting = false;
  $("reprint-form").addEventListener("submit", function (event) {
    event.preventDefault();
    if (reprinting) return;
    var reason = $("reprint-reason").value.trim();
    var box = $("reprint-error");
    box.hidden = true;
    if (!reprintCodes.length) {
      O.showRefusal(box, O.clientRefusal(config, "sale.empty", {}));
      return;
    }
    if (!reason) {
      O.showRefusal(box, O.clientRefusal(config, "void.reason_required", {}));
      return;
    }
    var facts = reprintCodes.map(function (code) { return reprintFacts[code]; });
    O.setText($("reprint-confirm-text"), O.fill(L.reprint_summary, {
      n: facts.length, programme: facts[0].programme_name,
      serials: facts.map(function (b) { return b.serial; }).join(", "),
      tickets: number(facts.reduce(function (sum, b) { return sum + b.tickets; }, 0)),
      face: O.yen(facts.reduce(function (sum, b) { return sum + b.face_value; }, 0)) }));
    reprintAsk.hidden = false;
    $("reprint-yes").focus();
  });

  $("reprint-no").addEventListener("click", function () {
    reprintAsk.hidden = true;
    reprintInput.focus();
  });

  $("reprint-yes").addEventListener("click", function () {
    if (reprinting || !reprintCodes.length) return;
    reprintAsk.hidden = true;
    var reason = $("reprint-reason").value.trim();
    var box = $("reprint-error");
    if (!reason) {
      O.showRefusal(box, O.clientRefusal(config, "void.reason_required", {}));
      return;
    }
    reprinting = true;
    var button = $("reprint-button"), label = button.textContent;
    button.disabled = true;
    O.setText(button, L.sending);
    O.postJSON("/api/v1/booklets/reprint", { booklet_codes: reprintCodes.slice(), reason: reason },
               null)
      .then(function (answer) {
        if (answer.status === 202) {
          reprintCodes = [];
          renderReprint();
          $("reprint-reason").value = "";
          follow(answer.body, $("reprint-job"));
          loadProgramme();
          loadJobs();
        } else {
          O.showRefusal(box, answerRefusal(answer));
        }
      }, function () {
        O.showRefusal(box, both("network", {}));
        loadJobs();
      })
      .then(function () {
        reprinting = false;
        button.disabled = false;
        O.setText(button, label);
      });
  });

  /* ------------------------------------------------------------ start */

  var select = $("programme");
  if (select.tagName === "SELECT") {
    select.addEventListener("change", function () {
      // The job started for the other programme goes on in the list, not in the big panel.
      Object.keys(followed).forEach(function (id) {
        if (followed[id] === $("print-job")) delete followed[id];
      });
      $("print-job").hidden = true;
      $("print-error").hidden = true;
      loadProgramme();
      loadJobs();
      loadProof();
    });
  }
  loadProgramme();
  loadJobs();
  renderReprint();
})();
