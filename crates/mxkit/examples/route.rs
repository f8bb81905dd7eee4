//! The library in a few lines: route an address with the system's resolver.
//!
//! `cargo run -p mxkit --example route -- john@example.org`

use mxkit::dns::engine::{Engine, EngineConfig};
use mxkit::route::{RouteOptions, RouteVerdict, route_input};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let input = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "john@example.org".into());
    let engine = Engine::new(EngineConfig::from_system()?).await?;
    let route = route_input(&engine, &input, &RouteOptions::default()).await;
    match route.status {
        RouteVerdict::Deliverable => {
            for c in &route.candidates {
                println!("{} {} {}", c.preference, c.exchanger, c.address);
            }
        }
        RouteVerdict::Permanent | RouteVerdict::Temporary => {
            let e = route.error.expect("a failed route says why");
            println!("{:?} {} ({}): {}", route.status, e.dsn, e.code, e.message);
        }
    }
    Ok(())
}
