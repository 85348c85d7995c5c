//! A TCP proxy between a check and a real server, to inject faults without touching
//! the shared server: refuse, black-hole, slow down, cut.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Forward both ways.
    Pass,
    /// Nothing listens: connections are refused.
    Refuse,
    /// Accept, read, never answer.
    Blackhole,
    /// Forward, but hold every chunk from the server this long.
    Slow(Duration),
}

pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    /// The mode and a generation bumped to cut every open connection.
    state: watch::Sender<(Mode, u64)>,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    /// A proxy on a free loopback port in front of `upstream`.
    pub async fn start(upstream: SocketAddr) -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (state, _) = watch::channel((Mode::Pass, 0));
        let proxy = Arc::new(Self {
            addr,
            upstream,
            state,
            listener: Mutex::new(None),
        });
        proxy.serve(listener);
        proxy
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub async fn set(&self, mode: Mode) {
        let (old, _) = *self.state.borrow();
        if mode == Mode::Refuse {
            // Stop listening: new connections are refused; open ones are cut. Waiting
            // for the aborted task means its listener is closed when `set` returns.
            let task = self.listener.lock().unwrap().take();
            if let Some(task) = task {
                task.abort();
                let _ = task.await;
            }
        }
        let cut = mode == Mode::Refuse || old == Mode::Blackhole;
        self.state.send_modify(|(m, generation)| {
            *m = mode;
            if cut {
                *generation += 1;
            }
        });
        if old == Mode::Refuse && mode != Mode::Refuse {
            let listener = std::net::TcpListener::bind(self.addr).expect("rebind the proxy port");
            listener.set_nonblocking(true).unwrap();
            self.serve(TcpListener::from_std(listener).unwrap());
        }
    }

    /// Closes every open connection (mid-stream for those in use).
    pub fn cut(&self) {
        self.state.send_modify(|(_, generation)| *generation += 1);
    }

    fn serve(&self, listener: TcpListener) {
        let state = self.state.clone();
        let upstream = self.upstream;
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let state = state.subscribe();
                tokio::spawn(connection(client, upstream, state));
            }
        });
        *self.listener.lock().unwrap() = Some(task);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.listener.lock().unwrap().take() {
            task.abort();
        }
        self.cut();
    }
}

async fn connection(
    client: TcpStream,
    upstream: SocketAddr,
    mut state: watch::Receiver<(Mode, u64)>,
) {
    let generation = state.borrow().1;
    // A black-holed connection is held open and read, never forwarded or answered.
    if state.borrow().0 == Mode::Blackhole {
        let mut client = client;
        let mut sink = [0u8; 4096];
        loop {
            tokio::select! {
                read = client.read(&mut sink) => if matches!(read, Ok(0) | Err(_)) { return },
                changed = state.changed() => if changed.is_err() || state.borrow().1 != generation { return },
            }
        }
    }
    let Ok(server) = TcpStream::connect(upstream).await else {
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, state.clone(), generation, false);
    let down = pump(server_read, client_write, state.clone(), generation, true);
    tokio::select! {
        _ = up => {},
        _ = down => {},
        _ = async { while state.changed().await.is_ok() { if state.borrow().1 != generation { break } } } => {},
    }
}

/// Copies chunks from `from` to `to`, honouring the mode before each write.
async fn pump(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    mut state: watch::Receiver<(Mode, u64)>,
    generation: u64,
    from_server: bool,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        loop {
            let (mode, current) = *state.borrow();
            if current != generation {
                return;
            }
            match mode {
                Mode::Blackhole => {
                    if state.changed().await.is_err() {
                        return;
                    }
                }
                Mode::Slow(delay) if from_server => {
                    tokio::time::sleep(delay).await;
                    break;
                }
                _ => break,
            }
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
