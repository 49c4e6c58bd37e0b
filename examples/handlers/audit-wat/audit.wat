;; audit.wat: a Tributary trigger handler written by hand in WebAssembly text.
;;
;; For every record of a DynamoDB stream event
;;
;;   {"Records":[{"awsRegion":...,"dynamodb":{...},"eventID":"...",...},{...}]}
;;
;; it writes one item into the table `Audit` with PutItem:
;;
;;   {"TableName":"Audit",
;;    "Item":{"EventId":{"S":"<the record's eventID>"},
;;            "Record":{"S":"<the whole record, as a JSON string>"}}}
;;
;; It returns ok("") when every PutItem succeeded, and err("PutItem into Audit failed:
;; <code>: <message>") with the API error as soon as one fails (the whole batch is then
;; retried by the event-source mapping; the items already written are written again with the
;; same content, so a retry is harmless).
;;
;; Build it into a component of the `trigger` world (runtime/wit/trigger.wit) with
;;
;;   tributary function build audit.wat -o audit.wasm
;;
;; The contract with the component wrapper (canonical ABI, UTF-8 strings):
;;   exports  memory                       linear memory (starts at 1 page, grows on demand)
;;            cabi_realloc(old ptr, old size, align, new size) -> ptr
;;                                         the host allocates the event and the strings
;;                                         that dynamodb.call returns through it
;;            handle(event ptr, event len) -> pointer to the result area:
;;                                         byte 0: 0 = ok, 1 = err; i32 at +4: string ptr;
;;                                         i32 at +8: string len
;;   imports  tributary:function/dynamodb@0.1.0 call
;;              (operation ptr, len, request ptr, len, result-area ptr); the result area of
;;              result<string, api-error> is: byte 0 = 0 ok / 1 err, then (aligned to 4)
;;              ok:  +4 ptr, +8 len of the response body
;;              err: +4 ptr, +8 len of `code`; +12 ptr, +16 len of `message`
;;            tributary:function/logging@0.1.0 log (level, message ptr, message len)
;;              (level is the enum's index: trace 0, debug 1, info 2, warn 3, error 4)
;;
;; Memory layout:
;;   0     .. 15     unused
;;   16    .. 27     handle's result area
;;   32    .. 51     dynamodb.call's result area
;;   64    .. 1023   constant strings (the data segments below)
;;   1024  ..        the heap: a bump allocator (`$alloc`). The host puts the event there
;;                   first; after that each record's request (and the response to it) is
;;                   allocated above the event and dropped again once the record is done, so
;;                   an invocation needs about: 1 KiB + event size + the largest record
;;                   escaped (up to 2 x its size; exactly sized) + PutItem's small response.
;;                   Memory grows (memory.grow) when the heap needs more; the limit is the
;;                   function's MemorySize (128 MB by default), far above a 100-record batch
;;                   of 1 KB records (~100 KB of event, 2 pages of 64 KiB). A batch that does
;;                   not fit fails with Runtime.OutOfMemory.
;;
;; The event is walked with a small JSON scanner: a value's end is found by counting
;; brackets and braces, skipping over string literals (and the backslash escapes inside
;; them), so braces, brackets and quotes inside item values cannot confuse it. Member names
;; ("Records", "eventID") are only matched at the top level of their object, as whole string
;; tokens followed by a colon, so an attribute named eventID inside an image is not taken for
;; the record's eventID. The record is copied into the request escaped as a JSON string:
;; `"` and `\` get a backslash, control characters (the line breaks and tabs of a
;; pretty-printed event) their escapes.
(module
  (import "tributary:function/dynamodb@0.1.0" "call"
    (func $dynamodb_call (param i32 i32 i32 i32 i32)))
  (import "tributary:function/logging@0.1.0" "log"
    (func $log (param i32 i32 i32)))

  (memory (export "memory") 1)

  ;; ---------------------------------------------------------------- fixed addresses

  (global $RET i32 (i32.const 16))       ;; handle's result area
  (global $CALL_RET i32 (i32.const 32))  ;; dynamodb.call's result area

  ;; Constant strings: each is an (address, length) pair of globals and a data segment at
  ;; that address. In WAT strings, \" is a quote and \\ a backslash.
  (global $OP i32 (i32.const 64))          (global $OP_LEN i32 (i32.const 7))
  (data (i32.const 64) "PutItem")
  (global $K_RECORDS i32 (i32.const 80))   (global $K_RECORDS_LEN i32 (i32.const 9))
  (data (i32.const 80) "\"Records\"")
  (global $K_EVENTID i32 (i32.const 96))   (global $K_EVENTID_LEN i32 (i32.const 9))
  (data (i32.const 96) "\"eventID\"")
  ;; The request is PREFIX + eventID + MIDDLE + escaped record + SUFFIX.
  (global $PREFIX i32 (i32.const 112))     (global $PREFIX_LEN i32 (i32.const 45))
  (data (i32.const 112) "{\"TableName\":\"Audit\",\"Item\":{\"EventId\":{\"S\":\"")
  (global $MIDDLE i32 (i32.const 160))     (global $MIDDLE_LEN i32 (i32.const 18))
  (data (i32.const 160) "\"},\"Record\":{\"S\":\"")
  (global $SUFFIX i32 (i32.const 192))     (global $SUFFIX_LEN i32 (i32.const 4))
  (data (i32.const 192) "\"}}}")
  ;; Error messages.
  (global $E_PUT i32 (i32.const 208))      (global $E_PUT_LEN i32 (i32.const 27))
  (data (i32.const 208) "PutItem into Audit failed: ")
  (global $COLON i32 (i32.const 240))      (global $COLON_LEN i32 (i32.const 2))
  (data (i32.const 240) ": ")
  (global $E_NOT_OBJECT i32 (i32.const 256)) (global $E_NOT_OBJECT_LEN i32 (i32.const 30))
  (data (i32.const 256) "the event is not a JSON object")
  (global $E_MALFORMED i32 (i32.const 288)) (global $E_MALFORMED_LEN i32 (i32.const 27))
  (data (i32.const 288) "the event is malformed JSON")
  (global $E_NO_RECORDS i32 (i32.const 320)) (global $E_NO_RECORDS_LEN i32 (i32.const 30))
  (data (i32.const 320) "the event has no Records array")
  (global $E_NOT_RECORD i32 (i32.const 352)) (global $E_NOT_RECORD_LEN i32 (i32.const 35))
  (data (i32.const 352) "Records must hold JSON objects only")
  (global $E_NO_ID i32 (i32.const 400))    (global $E_NO_ID_LEN i32 (i32.const 30))
  (data (i32.const 400) "a record has no eventID string")
  ;; The log line: "audit: wrote <n> item(s)".
  (global $L_WROTE i32 (i32.const 448))    (global $L_WROTE_LEN i32 (i32.const 13))
  (data (i32.const 448) "audit: wrote ")
  (global $L_ITEMS i32 (i32.const 464))    (global $L_ITEMS_LEN i32 (i32.const 8))
  (data (i32.const 464) " item(s)")

  ;; ---------------------------------------------------------------- allocation

  ;; The first free byte of the heap.
  (global $heap (mut i32) (i32.const 1024))

  ;; Allocates `size` bytes aligned to `align` (a power of two) at the top of the heap,
  ;; growing memory when needed. Traps when memory cannot grow (the function's MemorySize).
  (func $alloc (param $align i32) (param $size i32) (result i32)
    (local $p i32) (local $end i32) (local $pages i32)
    (if (i32.eqz (local.get $align)) (then (local.set $align (i32.const 1))))
    ;; p = heap rounded up to a multiple of align
    (local.set $p
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $p) (local.get $size)))
    (if (i32.lt_u (local.get $end) (local.get $p)) (then unreachable)) ;; past 4 GiB
    ;; pages needed to hold [0, end): ceil(end / 64 KiB), minus the pages we have
    (local.set $pages
      (i32.sub
        (i32.add
          (i32.shr_u (local.get $end) (i32.const 16))
          (i32.ne (i32.and (local.get $end) (i32.const 0xffff)) (i32.const 0)))
        (memory.size)))
    (if (i32.gt_s (local.get $pages) (i32.const 0))
      (then
        (if (i32.eq (memory.grow (local.get $pages)) (i32.const -1))
          (then unreachable))))
    (global.set $heap (local.get $end))
    (local.get $p))

  ;; The canonical ABI's allocator: a new block (old ptr 0), or a block resized (moved to the
  ;; top of the heap when it grows; the old one is not reused).
  (func (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
    (result i32)
    (local $p i32)
    (if (i32.and (i32.ne (local.get $old) (i32.const 0))
                 (i32.le_u (local.get $new_size) (local.get $old_size)))
      (then (return (local.get $old))))
    (local.set $p (call $alloc (local.get $align) (local.get $new_size)))
    (if (i32.ne (local.get $old) (i32.const 0))
      (then (memory.copy (local.get $p) (local.get $old) (local.get $old_size))))
    (local.get $p))

  ;; ---------------------------------------------------------------- bytes

  ;; Copies n bytes to dst; returns dst + n.
  (func $copy (param $dst i32) (param $src i32) (param $n i32) (result i32)
    (memory.copy (local.get $dst) (local.get $src) (local.get $n))
    (i32.add (local.get $dst) (local.get $n)))

  ;; How a byte is written inside a JSON string: the letter of its two-character escape
  ;; (`"` -> \", `\` -> \\, and \b \f \n \r \t for those control characters), or 0 when it
  ;; has none (then a control character is written \u00XX, and any other byte as it is).
  (func $escape_letter (param $c i32) (result i32)
    (if (i32.eq (local.get $c) (i32.const 0x22)) (then (return (i32.const 0x22))))   ;; " "
    (if (i32.eq (local.get $c) (i32.const 0x5c)) (then (return (i32.const 0x5c))))   ;; \ \
    (if (i32.eq (local.get $c) (i32.const 0x08)) (then (return (i32.const 0x62))))   ;;   b
    (if (i32.eq (local.get $c) (i32.const 0x0c)) (then (return (i32.const 0x66))))   ;;   f
    (if (i32.eq (local.get $c) (i32.const 0x0a)) (then (return (i32.const 0x6e))))   ;;   n
    (if (i32.eq (local.get $c) (i32.const 0x0d)) (then (return (i32.const 0x72))))   ;;   r
    (if (i32.eq (local.get $c) (i32.const 0x09)) (then (return (i32.const 0x74))))   ;;   t
    (i32.const 0))

  ;; The length of n bytes once escaped by $copy_escaped.
  (func $escaped_len (param $src i32) (param $n i32) (result i32)
    (local $end i32) (local $c i32) (local $len i32)
    (local.set $end (i32.add (local.get $src) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $src)))
        (local.set $len
          (i32.add (local.get $len)
            (if (result i32) (call $escape_letter (local.get $c))
              (then (i32.const 2))
              (else
                (if (result i32) (i32.lt_u (local.get $c) (i32.const 0x20))
                  (then (i32.const 6))
                  (else (i32.const 1)))))))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (br $next)))
    (local.get $len))

  ;; Copies n bytes to dst escaped so that the copy is the body of a JSON string whose value
  ;; is the original text; returns the end of the copy. In the event's own JSON, `"` and `\`
  ;; occur inside strings and around them; control characters only as whitespace between
  ;; tokens (\n, \r, \t), since a JSON string holds them escaped. Bytes of 0x80 and up
  ;; (UTF-8 sequences) are copied as they are.
  (func $copy_escaped (param $dst i32) (param $src i32) (param $n i32) (result i32)
    (local $end i32) (local $c i32) (local $letter i32)
    (local.set $end (i32.add (local.get $src) (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $src) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $src)))
        (local.set $letter (call $escape_letter (local.get $c)))
        (if (local.get $letter)
          (then                                                   ;; \" \\ \b \f \n \r \t
            (i32.store8 (local.get $dst) (i32.const 0x5c))
            (i32.store8 offset=1 (local.get $dst) (local.get $letter))
            (local.set $dst (i32.add (local.get $dst) (i32.const 2))))
          (else
            (if (i32.lt_u (local.get $c) (i32.const 0x20))
              (then                                               ;; \u0000 .. \u001f
                (i32.store8 (local.get $dst) (i32.const 0x5c))            ;; \
                (i32.store8 offset=1 (local.get $dst) (i32.const 0x75))   ;; u
                (i32.store8 offset=2 (local.get $dst) (i32.const 0x30))   ;; 0
                (i32.store8 offset=3 (local.get $dst) (i32.const 0x30))   ;; 0
                (i32.store8 offset=4 (local.get $dst)                     ;; 0 or 1
                  (i32.add (i32.const 0x30) (i32.shr_u (local.get $c) (i32.const 4))))
                (i32.store8 offset=5 (local.get $dst)                     ;; hex digit
                  (i32.add (i32.and (local.get $c) (i32.const 15))
                    (if (result i32) (i32.lt_u (i32.and (local.get $c) (i32.const 15))
                                               (i32.const 10))
                      (then (i32.const 0x30))                             ;; '0' + d
                      (else (i32.const 0x57)))))                          ;; 'a' + d - 10
                (local.set $dst (i32.add (local.get $dst) (i32.const 6))))
              (else
                (i32.store8 (local.get $dst) (local.get $c))
                (local.set $dst (i32.add (local.get $dst) (i32.const 1)))))))
        (local.set $src (i32.add (local.get $src) (i32.const 1)))
        (br $next)))
    (local.get $dst))

  ;; 1 when the n bytes at a and b are equal.
  (func $bytes_equal (param $a i32) (param $b i32) (param $n i32) (result i32)
    (block $differ
      (loop $next
        (if (i32.eqz (local.get $n)) (then (return (i32.const 1))))
        (br_if $differ (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (local.set $b (i32.add (local.get $b) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  ;; Writes n in decimal at dst; returns the end.
  (func $write_u32 (param $dst i32) (param $n i32) (result i32)
    (local $digits i32) (local $t i32) (local $end i32)
    ;; count the digits
    (local.set $digits (i32.const 1))
    (local.set $t (local.get $n))
    (block $counted
      (loop $more
        (br_if $counted (i32.lt_u (local.get $t) (i32.const 10)))
        (local.set $t (i32.div_u (local.get $t) (i32.const 10)))
        (local.set $digits (i32.add (local.get $digits) (i32.const 1)))
        (br $more)))
    (local.set $end (i32.add (local.get $dst) (local.get $digits)))
    ;; write them from the last one back
    (local.set $t (local.get $end))
    (loop $digit
      (local.set $t (i32.sub (local.get $t) (i32.const 1)))
      (i32.store8 (local.get $t)
        (i32.add (i32.const 0x30) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (i32.gt_u (local.get $t) (local.get $dst))))
    (local.get $end))

  ;; ---------------------------------------------------------------- JSON scanning

  ;; Skips spaces, tabs and line breaks; returns the first other position (or end).
  (func $skip_ws (param $p i32) (param $end i32) (result i32)
    (local $c i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $done
          (i32.eqz
            (i32.or
              (i32.or (i32.eq (local.get $c) (i32.const 0x20))     ;; space
                      (i32.eq (local.get $c) (i32.const 0x09)))    ;; tab
              (i32.or (i32.eq (local.get $c) (i32.const 0x0a))     ;; \n
                      (i32.eq (local.get $c) (i32.const 0x0d)))))) ;; \r
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $next)))
    (local.get $p))

  ;; p is at the opening quote of a string literal: returns the position just after its
  ;; closing quote, or 0 when the string does not end before `end`. A backslash escapes the
  ;; byte after it (\" and \\ included; \uXXXX needs nothing more: its digits are plain).
  (func $skip_string (param $p i32) (param $end i32) (result i32)
    (local $c i32)
    (local.set $p (i32.add (local.get $p) (i32.const 1)))
    (loop $next
      (if (i32.ge_u (local.get $p) (local.get $end)) (then (return (i32.const 0))))
      (local.set $c (i32.load8_u (local.get $p)))
      (if (i32.eq (local.get $c) (i32.const 0x5c))               ;; \ : skip it and the next
        (then
          (local.set $p (i32.add (local.get $p) (i32.const 2)))
          (br $next)))
      (if (i32.eq (local.get $c) (i32.const 0x22))               ;; " : the end
        (then (return (i32.add (local.get $p) (i32.const 1)))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $next))
    (unreachable))

  ;; Set by $walk: where the value of the member it looked for starts (0: not found).
  (global $found (mut i32) (i32.const 0))

  ;; p is at the `{` or `[` that opens a value: returns the position just after the `}` or
  ;; `]` that closes it (0 when the value does not close before `end`). On the way, when a
  ;; member of this object (depth 1, not of a nested one) is named by the string token
  ;; `key` (quotes included, escapes as they are in the JSON), sets $found to the start of
  ;; its value (after the colon and any spaces), unless $found is set already.
  (func $walk (param $p i32) (param $end i32) (param $key i32) (param $key_len i32)
    (result i32)
    (local $depth i32) (local $c i32) (local $q i32) (local $r i32)
    (loop $next
      (if (i32.ge_u (local.get $p) (local.get $end)) (then (return (i32.const 0))))
      (local.set $c (i32.load8_u (local.get $p)))
      ;; a string literal: skip it whole (its braces and quotes are text)
      (if (i32.eq (local.get $c) (i32.const 0x22))
        (then
          (local.set $q (call $skip_string (local.get $p) (local.get $end)))
          (if (i32.eqz (local.get $q)) (then (return (i32.const 0))))
          ;; is it the member name we look for, at this object's own level?
          (if (i32.and
                (i32.and (i32.eq (local.get $depth) (i32.const 1))
                         (i32.eqz (global.get $found)))
                (i32.eq (i32.sub (local.get $q) (local.get $p)) (local.get $key_len)))
            (then
              (if (call $bytes_equal (local.get $p) (local.get $key) (local.get $key_len))
                (then
                  ;; a name only if a colon follows (else it was a value that looks alike)
                  (local.set $r (call $skip_ws (local.get $q) (local.get $end)))
                  (if (i32.lt_u (local.get $r) (local.get $end))
                    (then
                      (if (i32.eq (i32.load8_u (local.get $r)) (i32.const 0x3a)) ;; :
                        (then
                          (global.set $found
                            (call $skip_ws
                              (i32.add (local.get $r) (i32.const 1))
                              (local.get $end)))))))))))
          (local.set $p (local.get $q))
          (br $next)))
      ;; { or [ : one level deeper
      (if (i32.or (i32.eq (local.get $c) (i32.const 0x7b)) (i32.eq (local.get $c) (i32.const 0x5b)))
        (then (local.set $depth (i32.add (local.get $depth) (i32.const 1)))))
      ;; } or ] : one level up; back at 0, the value is over
      (if (i32.or (i32.eq (local.get $c) (i32.const 0x7d)) (i32.eq (local.get $c) (i32.const 0x5d)))
        (then
          (local.set $depth (i32.sub (local.get $depth) (i32.const 1)))
          (if (i32.eqz (local.get $depth))
            (then (return (i32.add (local.get $p) (i32.const 1)))))))
      (local.set $p (i32.add (local.get $p) (i32.const 1)))
      (br $next))
    (unreachable))

  ;; ---------------------------------------------------------------- results

  ;; Writes result::ok("") into the result area.
  (func $ok (result i32)
    (i32.store8 (global.get $RET) (i32.const 0))
    (i32.store offset=4 (global.get $RET) (i32.const 0))
    (i32.store offset=8 (global.get $RET) (i32.const 0))
    (global.get $RET))

  ;; Writes result::err(message) into the result area.
  (func $fail (param $msg i32) (param $len i32) (result i32)
    (i32.store8 (global.get $RET) (i32.const 1))
    (i32.store offset=4 (global.get $RET) (local.get $msg))
    (i32.store offset=8 (global.get $RET) (local.get $len))
    (global.get $RET))

  ;; err("PutItem into Audit failed: <code>: <message>") from dynamodb.call's error.
  (func $fail_api (result i32)
    (local $code i32) (local $code_len i32) (local $msg i32) (local $msg_len i32)
    (local $buf i32) (local $w i32)
    (local.set $code (i32.load offset=4 (global.get $CALL_RET)))
    (local.set $code_len (i32.load offset=8 (global.get $CALL_RET)))
    (local.set $msg (i32.load offset=12 (global.get $CALL_RET)))
    (local.set $msg_len (i32.load offset=16 (global.get $CALL_RET)))
    (local.set $buf
      (call $alloc (i32.const 1)
        (i32.add
          (i32.add (global.get $E_PUT_LEN) (local.get $code_len))
          (i32.add (global.get $COLON_LEN) (local.get $msg_len)))))
    (local.set $w (call $copy (local.get $buf) (global.get $E_PUT) (global.get $E_PUT_LEN)))
    (local.set $w (call $copy (local.get $w) (local.get $code) (local.get $code_len)))
    (local.set $w (call $copy (local.get $w) (global.get $COLON) (global.get $COLON_LEN)))
    (local.set $w (call $copy (local.get $w) (local.get $msg) (local.get $msg_len)))
    (call $fail (local.get $buf) (i32.sub (local.get $w) (local.get $buf))))

  ;; ---------------------------------------------------------------- the handler

  ;; handle: func(event: string) -> result<string, string>
  (func (export "handle") (param $event i32) (param $len i32) (result i32)
    (local $end i32)      ;; end of the event
    (local $p i32)        ;; scanning position in the Records array
    (local $rec_end i32)  ;; end of the current record object
    (local $id i32)       ;; the opening quote of the record's eventID value
    (local $id_end i32)   ;; just after its closing quote
    (local $mark i32)     ;; the heap top to return to after each record
    (local $req i32) (local $w i32)
    (local $count i32)
    (local.set $end (i32.add (local.get $event) (local.get $len)))

    ;; The event must be an object with a member "Records" holding an array.
    (local.set $p (call $skip_ws (local.get $event) (local.get $end)))
    (if (i32.or (i32.ge_u (local.get $p) (local.get $end))
                (i32.ne (i32.load8_u (local.get $p)) (i32.const 0x7b)))         ;; {
      (then (return (call $fail (global.get $E_NOT_OBJECT) (global.get $E_NOT_OBJECT_LEN)))))
    (global.set $found (i32.const 0))
    (if (i32.eqz (call $walk (local.get $p) (local.get $end)
                             (global.get $K_RECORDS) (global.get $K_RECORDS_LEN)))
      (then (return (call $fail (global.get $E_MALFORMED) (global.get $E_MALFORMED_LEN)))))
    (if (i32.or (i32.eqz (global.get $found))
                (i32.ne (i32.load8_u (global.get $found)) (i32.const 0x5b)))    ;; [
      (then (return (call $fail (global.get $E_NO_RECORDS) (global.get $E_NO_RECORDS_LEN)))))
    ;; (the whole event was walked above, so every value inside it closes before `end`)
    (local.set $p (i32.add (global.get $found) (i32.const 1)))
    (local.set $mark (global.get $heap))

    (block $all_done
      (loop $next_record
        (local.set $p (call $skip_ws (local.get $p) (local.get $end)))
        (if (i32.ge_u (local.get $p) (local.get $end))
          (then (return (call $fail (global.get $E_MALFORMED) (global.get $E_MALFORMED_LEN)))))
        (br_if $all_done (i32.eq (i32.load8_u (local.get $p)) (i32.const 0x5d)))  ;; ]
        (if (i32.eq (i32.load8_u (local.get $p)) (i32.const 0x2c))                ;; ,
          (then
            (local.set $p (i32.add (local.get $p) (i32.const 1)))
            (br $next_record)))
        (if (i32.ne (i32.load8_u (local.get $p)) (i32.const 0x7b))                ;; {
          (then (return (call $fail (global.get $E_NOT_RECORD) (global.get $E_NOT_RECORD_LEN)))))

        ;; The record spans [p, rec_end); its "eventID" value starts at $found.
        (global.set $found (i32.const 0))
        (local.set $rec_end (call $walk (local.get $p) (local.get $end)
                                        (global.get $K_EVENTID) (global.get $K_EVENTID_LEN)))
        (local.set $id (global.get $found))
        (if (i32.or (i32.eqz (local.get $id))
                    (i32.ne (i32.load8_u (local.get $id)) (i32.const 0x22)))      ;; "
          (then (return (call $fail (global.get $E_NO_ID) (global.get $E_NO_ID_LEN)))))
        (local.set $id_end (call $skip_string (local.get $id) (local.get $rec_end)))

        ;; The request, in a buffer sized for it. The eventID is copied as it is in the
        ;; event (it is already the body of a JSON string); the record, escaped.
        (local.set $req
          (call $alloc (i32.const 1)
            (i32.add
              (i32.add (global.get $PREFIX_LEN) (i32.sub (local.get $id_end) (local.get $id)))
              (i32.add
                (i32.add (global.get $MIDDLE_LEN) (global.get $SUFFIX_LEN))
                (call $escaped_len (local.get $p)
                                   (i32.sub (local.get $rec_end) (local.get $p)))))))
        (local.set $w (call $copy (local.get $req) (global.get $PREFIX) (global.get $PREFIX_LEN)))
        (local.set $w (call $copy (local.get $w)
                                  (i32.add (local.get $id) (i32.const 1))
                                  (i32.sub (i32.sub (local.get $id_end) (local.get $id))
                                           (i32.const 2))))
        (local.set $w (call $copy (local.get $w) (global.get $MIDDLE) (global.get $MIDDLE_LEN)))
        (local.set $w (call $copy_escaped (local.get $w) (local.get $p)
                                          (i32.sub (local.get $rec_end) (local.get $p))))
        (local.set $w (call $copy (local.get $w) (global.get $SUFFIX) (global.get $SUFFIX_LEN)))

        (call $dynamodb_call
          (global.get $OP) (global.get $OP_LEN)
          (local.get $req) (i32.sub (local.get $w) (local.get $req))
          (global.get $CALL_RET))
        (if (i32.load8_u (global.get $CALL_RET))
          (then (return (call $fail_api))))

        ;; Done with this record: drop its request and the response (nothing else lives
        ;; above the mark), and go on after it.
        (global.set $heap (local.get $mark))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (local.set $p (local.get $rec_end))
        (br $next_record)))

    ;; log info "audit: wrote <count> item(s)"
    (local.set $w (call $alloc (i32.const 1)
                    (i32.add (i32.add (global.get $L_WROTE_LEN) (global.get $L_ITEMS_LEN))
                             (i32.const 10))))
    (local.set $req (local.get $w))
    (local.set $w (call $copy (local.get $w) (global.get $L_WROTE) (global.get $L_WROTE_LEN)))
    (local.set $w (call $write_u32 (local.get $w) (local.get $count)))
    (local.set $w (call $copy (local.get $w) (global.get $L_ITEMS) (global.get $L_ITEMS_LEN)))
    (call $log (i32.const 2) (local.get $req) (i32.sub (local.get $w) (local.get $req)))
    (call $ok))
)
