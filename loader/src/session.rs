//! The running loader's kernel state across reloads. Each image installed is a *generation*:
//! one BPF object with its own maps and programs. A reload installs the new image next to
//! the running one, attaches it (inactive), flips the shared `control` word (one atomic
//! store: every event is decided by the generation active when it starts), waits until
//! the old generation has finished the syscalls it armed, then detaches and frees it.

use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use libbpf_rs::skel::Skel;
use libbpf_rs::{Link, MapCore, MapFlags, MapHandle, OpenObject};
use schema::image::Image;

use crate::harden::ImageRead;
use crate::watch::ImageSource;
use crate::{Hook, Installed, LoadError, Plan, TraceeSkel, libbpf};

/// The longest a retiring generation is kept attached for syscalls it armed before the
/// switch (a syscall blocked longer is not reported, and the loader says how many).
pub const RETIRE_TIMEOUT: Duration = Duration::from_secs(1);

/// The least time between trusting hand-over records and switching generations: a hook
/// invocation whose two programs straddle both would be decided by neither or both.
pub const SWITCH_GRACE: Duration = Duration::from_millis(50);

/// How often `--watch` looks at the image file.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(250);

/// The maps every generation shares (`crate::SHARED_MAPS`), held open by the loader so they
/// outlive the generation that created them.
pub struct Shared {
    maps: Vec<(&'static str, MapHandle)>,
}

impl Shared {
    fn of(skel: &TraceeSkel<'_>) -> Result<Shared, LoadError> {
        let mut maps = Vec::new();
        for name in crate::SHARED_MAPS {
            let map = skel
                .object()
                .maps()
                .find(|m| m.name() == *name)
                .ok_or_else(|| LoadError::Kernel(format!("the BPF object has no map `{name}`")))?;
            let handle =
                MapHandle::try_from(&map).map_err(libbpf(format!("keep map `{name}` open")))?;
            maps.push((*name, handle));
        }
        Ok(Shared { maps })
    }

    /// The descriptor of a shared map, for the next generation to reuse.
    pub fn fd(&self, name: &str) -> Option<BorrowedFd<'_>> {
        self.maps
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, m)| m.as_fd())
    }

    fn map(&self, name: &str) -> &MapHandle {
        // SHARED_MAPS is what `of` filled: every name asked for here is in it.
        match self.maps.iter().find(|(n, _)| *n == name) {
            Some((_, m)) => m,
            None => unreachable!("shared map {name} is always kept"),
        }
    }

    pub fn ring(&self) -> &MapHandle {
        self.map("rb")
    }

    pub fn stats(&self) -> &MapHandle {
        self.map("stats")
    }

    /// Writes the control word (`struct control_word`).
    fn control(&self, word: schema::abi::ControlWord) -> Result<(), LoadError> {
        self.map("control")
            .update(
                &0u32.to_le_bytes(),
                bytemuck::bytes_of(&word),
                MapFlags::ANY,
            )
            .map_err(libbpf(format!("switch to generation {}", word.active)))
    }

    /// Makes `generation` the one whose programs decide new events, when it is the only
    /// one attached.
    pub fn activate(&self, generation: u32) -> Result<(), LoadError> {
        self.control(schema::abi::ControlWord {
            active: generation,
            newest: 0,
            since_ns: 0,
        })
    }

    /// Before `next`'s programs are attached beside `current`'s: hook invocations hand
    /// the older generation's decision to the newest one from now on (tracee.bpf.h
    /// `decide`), none taken yet.
    fn begin_reload(&self, current: u32, next: u32) -> Result<(), LoadError> {
        self.control(schema::abi::ControlWord {
            active: current,
            newest: next,
            since_ns: u64::MAX,
        })
    }

    /// With `next` attached beside the running `current`: decisions handed over from now
    /// on are taken, and after `SWITCH_GRACE` (so that no hook invocation that began before
    /// can still be between its two programs) `next` decides new events.
    fn switch(&self, current: u32, next: u32) -> Result<(), LoadError> {
        let since_ns = crate::monotonic_ns();
        let trusted = Instant::now();
        let mut word = schema::abi::ControlWord {
            active: current,
            newest: next,
            since_ns,
        };
        self.control(word)?;
        std::thread::sleep(SWITCH_GRACE.saturating_sub(trusted.elapsed()));
        word.active = next;
        self.control(word)
    }

    /// Syscalls `generation` armed at entry and has not seen exit yet.
    pub fn inflight(&self, generation: u32) -> i64 {
        let slot = schema::abi::stat::INFLIGHT0 + (generation & 1);
        self.stats()
            .lookup_percpu(&slot.to_le_bytes(), MapFlags::ANY)
            .ok()
            .flatten()
            .map_or(0, |cpus| {
                cpus.iter()
                    .filter_map(|v| v.get(..8)?.try_into().ok())
                    .map(u64::from_le_bytes)
                    .fold(0u64, u64::wrapping_add) as i64
            })
    }

    /// Zeroes the in-flight count of a generation parity before it is reused.
    fn reset_inflight(&self, generation: u32) -> Result<(), LoadError> {
        let slot = schema::abi::stat::INFLIGHT0 + (generation & 1);
        let cpus = libbpf_rs::num_possible_cpus()
            .map_err(|e| LoadError::Kernel(format!("counting CPUs: {e}")))?;
        let zeros = vec![vec![0u8; 8]; cpus];
        self.stats()
            .update_percpu(&slot.to_le_bytes(), &zeros, MapFlags::ANY)
            .map_err(libbpf("reset the in-flight counter"))
    }
}

/// One installed image: its BPF object, attached.
pub struct Generation {
    pub number: u32,
    pub image: Image,
    pub plan: Plan,
    pub installed: Installed,
    pub links: Vec<Link>,
    pub skel: TraceeSkel<'static>,
    /// The image file's SHA-256 (hex).
    pub sha256: String,
}

impl Generation {
    /// Installs, seeds and attaches `image` as generation `number`; it decides no event
    /// until activated. `shared` is None for the first generation (it creates them).
    /// `cancelled` is asked between steps: a stop during start-up or a reload is served
    /// as soon as the step in progress ends (dropping what was built releases it all).
    pub fn start(
        image: Image,
        plan: Plan,
        settings: crate::Settings,
        shared: Option<&Shared>,
        number: u32,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<Generation, LoadError> {
        let step = || {
            if cancelled() {
                Err(LoadError::Cancelled)
            } else {
                Ok(())
            }
        };
        // The skeleton borrows its libbpf object storage for as long as it lives, and a
        // generation lives until a later reload: one small allocation per generation is
        // leaked rather than tied to a self-referential struct.
        let storage: &'static mut MaybeUninit<OpenObject> =
            Box::leak(Box::new(MaybeUninit::uninit()));
        let (skel, installed) =
            crate::install_with(&image, &plan, settings, storage, shared, number)?;
        step()?;
        crate::seed_tree(&skel, &image)?;
        if shared.is_none() {
            // The first generation's task storage is new and empty (later ones share it).
            crate::seed_executables(&skel, &image)?;
        }
        let containers = plan.hooks.contains(&Hook::Btf("tr_cgroup_mkdir"));
        if containers {
            crate::seed_containers(&skel, installed.cgroup_v1.as_ref())?;
        }
        step()?;
        let links = crate::attach(&skel, &plan, settings.audit)?;
        step()?;
        // Again after attaching: what appeared in between is caught by one or the other.
        crate::seed_tree(&skel, &image)?;
        if containers {
            crate::seed_containers(&skel, installed.cgroup_v1.as_ref())?;
        }
        crate::seed_follow(&skel, &plan)?;
        Ok(Generation {
            number,
            image,
            plan,
            installed,
            links,
            skel,
            sha256: String::new(),
        })
    }

    /// The line printed once it is active.
    pub fn describe(&self, started: Instant) -> String {
        format!(
            "attached {} hooks for {} events of {} policies ({} map entries) in {} ms",
            self.links.len(),
            self.image.meta.events.len(),
            self.image.meta.policies.len(),
            self.installed.entries,
            started.elapsed().as_millis()
        )
    }
}

/// What changed, for the consumer loop to report and to decode records by.
pub enum Change {
    /// A new generation is active.
    Activated {
        generation: u32,
        image: Image,
        line: String,
        sha256: String,
    },
    /// A reload was refused; the running generation goes on.
    Refused(String),
    /// An old generation was detached and freed; `stranded` syscalls it armed had not
    /// exited (they are not reported).
    Retired { generation: u32, stranded: i64 },
    /// A read of the image file has been waiting this long (a hung filesystem?).
    ReadStalled(Duration),
}

/// How many times a load that the kernel only interrupted (EAGAIN, EINTR) is tried.
const LOAD_ATTEMPTS: u32 = 4;

/// Was this refusal only an interruption, worth another try?
fn interrupted(e: &LoadError) -> bool {
    matches!(e, LoadError::Libbpf { source, .. }
        if matches!(source.kind(), libbpf_rs::ErrorKind::WouldBlock | libbpf_rs::ErrorKind::Interrupted))
}

/// `Generation::start`, tried again when the kernel was only interrupted.
fn start_retrying(
    read: &ImageRead,
    settings: crate::Settings,
    shared: Option<&Shared>,
    number: u32,
    cancelled: &dyn Fn() -> bool,
) -> Result<Generation, LoadError> {
    let mut attempt = 1;
    loop {
        crate::libbpf_log::clear();
        match Generation::start(
            read.image.clone(),
            read.plan.clone(),
            settings,
            shared,
            number,
            cancelled,
        ) {
            Err(e) if interrupted(&e) && attempt < LOAD_ATTEMPTS && !cancelled() => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(10 * u64::from(attempt)));
            }
            done => {
                return done.map(|mut generation| {
                    generation.sha256.clone_from(&read.sha256);
                    generation
                });
            }
        }
    }
}

/// Reload requests and the generations they create.
pub struct Session {
    current: Generation,
    retiring: Option<(Generation, Instant)>,
    image_path: PathBuf,
    settings: crate::Settings,
    source: ImageSource,
    /// A stalled read is reported once.
    stall_reported: bool,
}

/// How long a read of the image file may take before the loader says so.
pub const READ_STALL: Duration = Duration::from_secs(5);

impl Session {
    /// Starts and activates the first generation from the image `source` read; returns
    /// the maps every generation shares with it.
    pub fn start(
        read: ImageRead,
        source: ImageSource,
        image_path: &Path,
        settings: crate::Settings,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<(Session, Shared), LoadError> {
        let first = start_retrying(&read, settings, None, 1, cancelled)?;
        let shared = Shared::of(&first.skel)?;
        shared.activate(1)?;
        let session = Session {
            current: first,
            retiring: None,
            image_path: image_path.to_path_buf(),
            settings,
            source,
            stall_reported: false,
        };
        Ok((session, shared))
    }

    pub fn current(&self) -> &Generation {
        &self.current
    }

    /// One step of the reload machinery, called by the consumer loop between drains:
    /// retires the old generation once it is done, and installs the newest image the
    /// image thread has read (SIGHUP, or the watched file changed) when no reload is in
    /// progress; what arrives meanwhile waits, and only the newest is installed.
    pub fn tick(&mut self, shared: &Shared, cancelled: &dyn Fn() -> bool) -> Vec<Change> {
        let mut changes = Vec::new();
        if let Some((old, since)) = &self.retiring {
            let inflight = shared.inflight(old.number);
            if inflight <= 0 || since.elapsed() >= RETIRE_TIMEOUT {
                let generation = old.number;
                // Links first, so no program of it runs while its maps go away.
                if let Some((mut old, _)) = self.retiring.take() {
                    old.links.clear();
                    drop(old);
                }
                // Alone again: no more hand-over.
                if let Err(e) = shared.activate(self.current.number) {
                    changes.push(Change::Refused(e.to_string()));
                }
                changes.push(Change::Retired {
                    generation,
                    stranded: inflight.max(0),
                });
            } else {
                return changes;
            }
        }
        match self.source.waiting_for() {
            Some(waited) if waited >= READ_STALL && !self.stall_reported => {
                self.stall_reported = true;
                changes.push(Change::ReadStalled(waited));
            }
            None => self.stall_reported = false,
            _ => {}
        }
        let Some(result) = self.source.newest() else {
            return changes;
        };
        match result {
            Ok(read) => match self.reload(&read, shared, cancelled) {
                Ok(line) => changes.push(Change::Activated {
                    generation: self.current.number,
                    image: self.current.image.clone(),
                    line,
                    sha256: self.current.sha256.clone(),
                }),
                Err(LoadError::Cancelled) => {}
                Err(e) => changes.push(Change::Refused(format!(
                    "{}: {e}{}",
                    self.image_path.display(),
                    crate::libbpf_log::note(&e, self.current.number + 1)
                ))),
            },
            Err(refusal) => changes.push(Change::Refused(refusal.message)),
        }
        changes
    }

    fn reload(
        &mut self,
        read: &ImageRead,
        shared: &Shared,
        cancelled: &dyn Fn() -> bool,
    ) -> Result<String, LoadError> {
        let started = Instant::now();
        if read.plan.needs_tracefs() {
            crate::ensure_tracefs()?;
        }
        if read.plan.needs_net_admin() && !crate::harden::can_load_packet_programs() {
            return Err(LoadError::Kernel(
                "this image has network events, whose packet programs only CAP_NET_ADMIN may load, and tracee-load gave that up at start (its first image had none): restart tracee-load with this image".to_owned(),
            ));
        }
        let number = self.current.number + 1;
        shared.reset_inflight(number)?;
        shared.begin_reload(self.current.number, number)?;
        let next =
            start_retrying(read, self.settings, Some(shared), number, cancelled).and_then(|next| {
                shared.switch(self.current.number, number)?;
                Ok(next)
            });
        let next = match next {
            Ok(next) => next,
            Err(e) => {
                // Back to the running generation alone (what was built of the new one is
                // gone with the error).
                let _ = shared.activate(self.current.number);
                return Err(e);
            }
        };
        let line = next.describe(started);
        let old = std::mem::replace(&mut self.current, next);
        self.retiring = Some((old, Instant::now()));
        Ok(line)
    }

    /// Detaches every program now (at exit): nothing new is sent after this.
    pub fn detach(&mut self) {
        if let Some((old, _)) = &mut self.retiring {
            old.links.clear();
        }
        self.current.links.clear();
    }

    /// Detaches everything now (at exit); the maps go with the session.
    pub fn finish(mut self) {
        self.detach();
    }
}
