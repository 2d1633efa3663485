/* Ticket and booklet codes, as in src/oflocal/vouchers/codes.py, so a typo is caught
 * on the phone before the server is asked. Keep the two files in step; the browser
 * tests compare them on many codes.
 *
 * normalise() is a little more forgiving than the server's: it first folds full-width
 * characters (a Japanese keyboard with the IME on types "Ｔ０１Ｋ") and more kinds of
 * dashes. The page always sends the canonical 20 characters, which the server accepts.
 */
(function (root) {
  "use strict";
  var ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  var VALUE = {};
  for (var i = 0; i < ALPHABET.length; i++) VALUE[ALPHABET.charAt(i)] = i;
  var FOLD = { I: "1", L: "1", O: "0" };
  var DROP = /[\s\-\u2010-\u2015\u2212\u30FC\uFF0D\uFF70]/g;
  var CODE_LENGTH = 20, PROGRAMME_CHARS = 3, SERIAL_CHARS = 5;

  function normalise(text) {
    var s = String(text == null ? "" : text);
    if (s.normalize) s = s.normalize("NFKC");
    s = s.toUpperCase().replace(DROP, "");
    var out = "";
    for (var k = 0; k < s.length; k++) {
      var ch = s.charAt(k);
      out += FOLD[ch] || ch;
    }
    return out;
  }

  /* Luhn mod 32 over the base32 body: the same sum as check_char() in codes.py. */
  function checkChar(body) {
    var factor = 2, total = 0;
    for (var k = body.length - 1; k >= 0; k--) {
      var addend = factor * VALUE[body.charAt(k)];
      factor = factor === 2 ? 1 : 2;
      total += Math.floor(addend / 32) + (addend % 32);
    }
    return ALPHABET.charAt((32 - (total % 32)) % 32);
  }

  function decode(text) {
    var value = 0;
    for (var k = 0; k < text.length; k++) value = value * 32 + VALUE[text.charAt(k)];
    return value;
  }

  /* {ok: true, kind, programmeId, serial, code} or {ok: false, reason, text}. */
  function parse(text) {
    var code = normalise(text);
    var shaped = code.length === CODE_LENGTH && (code.charAt(0) === "T" || code.charAt(0) === "B");
    for (var k = 1; shaped && k < code.length; k++) {
      if (!Object.prototype.hasOwnProperty.call(VALUE, code.charAt(k))) shaped = false;
    }
    if (!shaped) return { ok: false, reason: "malformed", text: code };
    if (checkChar(code.slice(0, -1)) !== code.charAt(code.length - 1)) {
      return { ok: false, reason: "checksum", text: code };
    }
    return {
      ok: true,
      kind: code.charAt(0),
      programmeId: decode(code.slice(1, 1 + PROGRAMME_CHARS)),
      serial: decode(code.slice(1 + PROGRAMME_CHARS, 1 + PROGRAMME_CHARS + SERIAL_CHARS)),
      code: code
    };
  }

  function grouped(code) {
    var parts = [];
    for (var k = 0; k < code.length; k += 4) parts.push(code.slice(k, k + 4));
    return parts.join("-");
  }

  root.OflocalCodes = { normalise: normalise, checkChar: checkChar, parse: parse, grouped: grouped };
})(window);
