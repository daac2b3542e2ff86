//! Password hashing with Argon2id (RustCrypto's PHC-string API) on a few threads of its own.
//!
//! A hash costs tens of milliseconds of CPU and 19 MiB of memory (the default parameters). Run
//! on tokio's blocking pool, a burst of logins would hash on as many threads as it has (up to
//! 512), each allocating its own 19 MiB that glibc's per-thread arenas then keep: resident
//! memory grew by gigabytes and the position path starved. Here hashing is bounded instead:
//! a few worker threads (by default all cores but one), each reusing one memory block for every hash it computes, at
//! a lower scheduling priority, so logins queue while live traffic keeps its CPU.

use std::cell::RefCell;
use std::sync::{Arc, Mutex, OnceLock};

use argon2::password_hash::errors::Error as HashError;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{
    Decimal, Ident, Output, ParamsString, PasswordHash, PasswordHasher, PasswordVerifier, Salt,
    SaltString,
};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{mpsc, oneshot};

use crate::domain::{AppError, Password};

/// Hashes waiting for a worker; past this, callers wait to enqueue (backpressure).
const QUEUE: usize = 1024;
/// Workers run at this niceness: hashing yields the CPU to sockets and requests.
const WORKER_NICENESS: i32 = 10;
/// The most memory a stored hash may ask for (the default is 19 MiB): a hash with absurd
/// parameters must not make a worker allocate gigabytes.
const MAX_MEMORY_KIB: u32 = 256 * 1024;

/// Argon2id with memory that its worker owns and reuses, instead of allocating per hash. It
/// computes exactly what `Argon2` computes (the tests check both ways), so stored hashes stay
/// standard PHC strings; verification is the library's own (`PasswordVerifier`, with its
/// constant-time comparison), which calls back into `hash_password_customized` here.
struct PooledArgon2 {
    memory: RefCell<Vec<Block>>,
}

impl PasswordHasher for PooledArgon2 {
    type Params = Params;

    fn hash_password<'a>(
        &self,
        password: &[u8],
        salt: impl Into<Salt<'a>>,
    ) -> argon2::password_hash::Result<PasswordHash<'a>> {
        self.hash_password_customized(password, None, None, Params::default(), salt)
    }

    fn hash_password_customized<'a>(
        &self,
        password: &[u8],
        algorithm: Option<Ident<'a>>,
        version: Option<Decimal>,
        params: Params,
        salt: impl Into<Salt<'a>>,
    ) -> argon2::password_hash::Result<PasswordHash<'a>> {
        let algorithm = algorithm
            .map(Algorithm::try_from)
            .transpose()?
            .unwrap_or_default();
        let version = version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        if params.m_cost() > MAX_MEMORY_KIB {
            return Err(HashError::ParamValueInvalid(
                argon2::password_hash::errors::InvalidValue::TooLong,
            ));
        }
        let salt = salt.into();
        let mut salt_bytes = [0u8; 64];
        let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
        let argon = Argon2::new(algorithm, version, params.clone());
        let mut memory = self.memory.borrow_mut();
        // Every block is written before it is read, so what an earlier hash left there is
        // harmless; growing is rare (only a stored hash with bigger parameters does it).
        if memory.len() < params.block_count() {
            memory.resize(params.block_count(), Block::default());
        }
        let blocks = &mut memory[..params.block_count()];
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let hash = Output::init_with(output_len, |out| {
            argon
                .hash_password_into_with_memory(password, salt_bytes, out, &mut *blocks)
                .map_err(HashError::from)
        })?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params: ParamsString::try_from(&params)?,
            salt: Some(salt),
            hash: Some(hash),
        })
    }
}

impl PooledArgon2 {
    fn new() -> Self {
        Self {
            memory: RefCell::new(Vec::new()),
        }
    }

    fn hash(&self, password: &str) -> Result<String, HashError> {
        let salt = SaltString::generate(&mut OsRng);
        Ok(self.hash_password(password.as_bytes(), &salt)?.to_string())
    }

    fn verify(&self, password: &str, phc: &str) -> bool {
        match PasswordHash::new(phc) {
            Ok(parsed) => self.verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(err) => {
                tracing::error!(error = %err, "a stored password hash does not parse");
                false
            }
        }
    }
}

type Job = Box<dyn FnOnce(&PooledArgon2) + Send>;

/// How many hashing threads to start: the configured number, or by default (`0`) one fewer
/// than the `cores`, at least one. Hashing on every core made positions wait behind it during
/// a burst of logins even at a lower priority (the scheduler lets a running thread finish its
/// slice first); with a core left free they do not.
pub fn workers(configured: usize, cores: usize) -> usize {
    if configured > 0 {
        configured
    } else {
        cores.saturating_sub(1).max(1)
    }
}

/// The instance's password hasher: a queue in front of a few worker threads ([`workers`]). Cheap to
/// clone; the workers stop when the last clone is dropped.
#[derive(Clone)]
pub struct Passwords {
    jobs: mpsc::Sender<Job>,
    /// A hash of a password nobody has, so that an unknown email costs as much as a wrong
    /// password and response times do not reveal which emails are registered.
    decoy: Arc<OnceLock<String>>,
}

impl Passwords {
    /// Starts `workers` hashing threads (at least one).
    pub fn start(workers: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for n in 0..workers.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hail-argon2-{n}"))
                .spawn(move || work(&queue));
            if let Err(err) = spawned {
                tracing::error!(error = %err, "could not start a password hashing thread");
            }
        }
        Self {
            jobs,
            decoy: Arc::default(),
        }
    }

    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&PooledArgon2) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |argon| {
            let _ = answer.send(job(argon));
        });
        if self.jobs.send(job).await.is_err() {
            tracing::error!("the password hashing threads are gone");
            return Err(AppError::internal());
        }
        answered.await.map_err(|_| {
            tracing::error!("a password hashing job was dropped unanswered");
            AppError::internal()
        })
    }

    pub async fn hash(&self, password: Password) -> Result<String, AppError> {
        self.run(move |argon| argon.hash(password.expose()))
            .await?
            .map_err(|err| {
                tracing::error!(error = %err, "password hashing failed");
                AppError::internal()
            })
    }

    /// Checks `password` against the stored hash, or against a decoy when there is none.
    pub async fn verify(
        &self,
        password: Password,
        stored: Option<String>,
    ) -> Result<bool, AppError> {
        let decoy = self.decoy.clone();
        self.run(move |argon| match stored {
            Some(phc) => argon.verify(password.expose(), &phc),
            None => {
                let decoy = decoy.get_or_init(|| {
                    argon
                        .hash("decoy password that no account has")
                        .unwrap_or_default()
                });
                argon.verify(password.expose(), decoy);
                false
            }
        })
        .await
    }
}

/// A worker: takes the next job whenever it is free, until every sender is gone.
fn work(queue: &Mutex<mpsc::Receiver<Job>>) {
    lower_priority();
    let argon = PooledArgon2::new();
    loop {
        // One idle worker waits on the queue at a time; the others wait for the lock.
        let job = match queue.lock() {
            Ok(mut queue) => queue.blocking_recv(),
            Err(_) => return,
        };
        let Some(job) = job else { return };
        job(&argon);
    }
}

/// Lowers this thread's priority: on Linux, niceness is per thread.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: setpriority only reads its arguments; gettid cannot fail.
        let result = unsafe {
            libc::setpriority(
                libc::PRIO_PROCESS,
                libc::gettid() as libc::id_t,
                WORKER_NICENESS,
            )
        };
        if result != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "could not lower the password hashing thread's priority"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn by_default_hashing_leaves_one_core_to_live_traffic() {
        assert_eq!(workers(0, 1), 1);
        assert_eq!(workers(0, 2), 1);
        assert_eq!(workers(0, 8), 7);
        assert_eq!(workers(3, 2), 3);
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let passwords = Passwords::start(1);
        let password = Password::parse_new("correct horse battery").unwrap();
        let phc = passwords.hash(password.clone()).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(passwords.verify(password, Some(phc.clone())).await.unwrap());
        let wrong = Password::parse_existing("wrong horse battery").unwrap();
        assert!(!passwords.verify(wrong, Some(phc)).await.unwrap());
    }

    #[tokio::test]
    async fn no_stored_hash_never_verifies() {
        let passwords = Passwords::start(1);
        let password = Password::parse_existing("decoy password that no account has").unwrap();
        assert!(!passwords.verify(password, None).await.unwrap());
    }

    #[test]
    fn pooled_hashes_are_the_libraries_own_both_ways() {
        let pooled = PooledArgon2::new();
        let standard = Argon2::default();
        for password in ["correct horse battery", "another one, reusing the memory"] {
            let ours = pooled.hash(password).unwrap();
            let parsed = PasswordHash::new(&ours).unwrap();
            assert!(standard
                .verify_password(password.as_bytes(), &parsed)
                .is_ok());
            let salt = SaltString::generate(&mut OsRng);
            let theirs = standard
                .hash_password(password.as_bytes(), &salt)
                .unwrap()
                .to_string();
            assert!(pooled.verify(password, &theirs));
            assert!(!pooled.verify("not the password", &theirs));
        }
    }

    #[test]
    fn hashes_with_other_parameters_verify_and_absurd_ones_are_refused() {
        let pooled = PooledArgon2::new();
        let small = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 3, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut OsRng);
        let phc = small.hash_password(b"pw", &salt).unwrap().to_string();
        assert!(pooled.verify("pw", &phc));
        let huge = phc.replace("m=8192", "m=4194304");
        assert!(!pooled.verify("pw", &huge));
        assert!(!pooled.verify("pw", "not a hash"));
    }

    #[tokio::test]
    async fn no_more_hashes_run_at_once_than_there_are_workers() {
        let passwords = Passwords::start(2);
        let running = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let jobs = (0..8).map(|_| {
            let (running, most) = (running.clone(), most.clone());
            passwords.run(move |_| {
                use std::sync::atomic::Ordering::SeqCst;
                let now = running.fetch_add(1, SeqCst) + 1;
                most.fetch_max(now, SeqCst);
                std::thread::sleep(Duration::from_millis(20));
                running.fetch_sub(1, SeqCst);
            })
        });
        for result in futures_util::future::join_all(jobs).await {
            result.unwrap();
        }
        let most = most.load(std::sync::atomic::Ordering::SeqCst);
        assert!((1..=2).contains(&most), "{most} hashes ran at once");
    }
}
