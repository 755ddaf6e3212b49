//! Server memory with many pods created one by one.

use std::time::Duration;

use crate::Ctx;
use crate::lifecycle::create_pod;
use crate::server::delete;

const WAIT: Duration = Duration::from_secs(60);

/// Server RSS (kB) with `pods` pods running (created one by one), then deletes them.
pub fn rss_with_pods(ctx: &Ctx, pods: usize) -> Result<Option<u64>, String> {
    let names: Vec<String> = (0..pods).map(|i| ctx.name(&format!("rss-{i}"))).collect();
    for n in &names {
        create_pod(ctx, n)?;
    }
    // Status writes, stats streams and the first samples settle.
    std::thread::sleep(Duration::from_secs(5));
    let rss = ctx.server.rss_kb();
    for n in &names {
        delete(&ctx.http, &ctx.server.url(&format!("/k1s/pod/{n}")))?;
    }
    for n in &names {
        ctx.engine.wait_event(n, "destroy", 0, WAIT)?;
    }
    Ok(rss)
}
