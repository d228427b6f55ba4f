"""The default policy: KSM, balloon and I/O tuning, after classic MOM's.

Figures are KiB (memory) and percent (``Host.io_pressure``: the kernel's
I/O pressure, share of time some task waited for I/O over 10 s). Every
``defparam`` may be changed by ``Host.setMOMPolicyParameters``; e.g.
``pressure_threshold`` 1.0 makes the host count as short of memory
whatever its real free memory (the tests use it).
"""

DEFAULT_POLICY = r"""
# --- tunables (Host.setMOMPolicyParameters overrides any of them) ---
(defparam ksmEnabled 1)
(defparam balloonEnabled 1)
(defparam ioTuneEnabled 1)
(defparam ksmMergeAcrossNodes 1)
(defparam pressure_threshold 0.20)         # free share: below it memory is short
(defparam min_guest_free_percent 0.20)     # free memory a shrunk guest keeps
(defparam max_balloon_change_percent 0.05) # per cycle
(defparam min_balloon_change_percent 0.0025)
(defparam ksm_free_percent 0.20)           # free share under which KSM runs
(defparam ksm_pages_boost 300)
(defparam ksm_pages_decay -50)
(defparam ksm_npages_min 64)
(defparam ksm_npages_max 1250)
(defparam ksm_sleep_ms_baseline 10)
(defparam io_pressure_threshold 10)        # percent of time waiting on I/O

(defvar host_free_percent (/ Host.mem_free Host.mem_available))
(defvar memory_short (< host_free_percent pressure_threshold))

# --- KSM: merge pages while memory is short, harder the longer it lasts ---
(def ksm_pages (delta)
    (max ksm_npages_min (min ksm_npages_max (+ Host.ksm_pages_to_scan delta))))

(if (== Host.ksm_pages_shared 0)
    (Host.Control "ksm_merge_across_nodes" ksmMergeAcrossNodes) 0)

(if (and ksmEnabled (< Host.mem_free (* Host.mem_available ksm_free_percent)))
    {
        (Host.Control "ksm_run" 1)
        (Host.Control "ksm_sleep_millisecs"
            (max 10 (/ (* ksm_sleep_ms_baseline 16777216) Host.mem_available)))
        (Host.Control "ksm_pages_to_scan" (ksm_pages ksm_pages_boost))
    }
    (Host.Control "ksm_run" 0))

# --- balloon: shrink guests with spare memory while the host is short,
# give it back when it is not; never below the guaranteed memory ---
(def guest_floor (guest)
    (max guest.balloon_min
         (+ guest.mem_used (* min_guest_free_percent guest.balloon_cur))))

(def big_enough (guest size)
    (> (abs (- size guest.balloon_cur))
       (* min_balloon_change_percent guest.balloon_cur)))

(def shrink (guest) {
    (defvar size (max (guest_floor guest)
                      (* guest.balloon_cur (- 1 max_balloon_change_percent))))
    (if (and (< size guest.balloon_cur) (big_enough guest size))
        (guest.Control "balloon_target" size) 0)
})

(def grow (guest) {
    (defvar size (* guest.balloon_cur (+ 1 max_balloon_change_percent)))
    (if (valid guest.mem_used) (set size (max size (guest_floor guest))) 0)
    (set size (min size guest.balloon_max))
    (if (or (== size guest.balloon_max) (big_enough guest size))
        (guest.Control "balloon_target" size) 0)
})

(with Guests guest
    (if (and balloonEnabled memory_short)
        (if (valid guest.mem_used) (shrink guest) 0)
        (if (< guest.balloon_cur guest.balloon_max) (grow guest) 0)))

# --- I/O: the guaranteed limits under I/O pressure, the maximum otherwise ---
(with Guests guest
    (if (and ioTuneEnabled guest.io_policy)
        (guest.Control "io_tune"
            (if (> Host.io_pressure io_pressure_threshold) "guaranteed" "maximum"))
        0))
"""
