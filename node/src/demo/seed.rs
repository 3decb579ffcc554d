//! The demo's federation wiring, through the same domain calls the admin API's handlers make:
//! peering (store the peer, then have the network dial it; every start, since ports may
//! change), the standard agreements (proposed and signed by the provider, the proposal
//! travelling to the recipient as a record, countersigned there, the acceptance travelling
//! back), and the portal accounts. Each step is audited under the actor `demo-setup`, as the
//! admin API audits its operator.

use futures::future::try_join_all;
use safeport_protocol::agreement::{AgreementTerms, templates};
use safeport_protocol::{AgencyId, Classification, Country, Timestamp};

use super::setup::{DE_HOTLINE, INTERPOL, NL_HOTLINE, NL_POLICE, demo_password};
use super::{Demo, DemoError, WAIT, blocking, node, wait_for};
use crate::RunningNode;
use crate::app::agreements::AgreementState;
use crate::app::audit::{Actor, AuditAction};
use crate::net::PeerState;

/// Who dials whom. The dialer keeps the peer configured (and redials it); admission is mutual,
/// so one side per pair suffices.
const LINKS: [(&str, &str); 5] = [
    (NL_HOTLINE, DE_HOTLINE),
    (NL_HOTLINE, INTERPOL),
    (DE_HOTLINE, INTERPOL),
    (NL_POLICE, INTERPOL),
    (NL_POLICE, NL_HOTLINE),
];
/// Validity of the demo's agreements, in days.
const AGREEMENT_DAYS: u64 = 365;
/// The actor the demo's setup steps are audited under.
const SETUP_ACTOR: &str = "demo-setup";

fn actor() -> Result<Actor, DemoError> {
    Actor::named(SETUP_ACTOR).map_err(|source| DemoError::App {
        agency: "demo".into(),
        what: "naming the setup actor".into(),
        source,
    })
}

fn agency(id: &str) -> Result<AgencyId, DemoError> {
    AgencyId::new(id).map_err(|e| DemoError::Unexpected(format!("agency id {id}: {e}")))
}

fn country(code: &str) -> Result<Country, DemoError> {
    Country::new(code).map_err(|e| DemoError::Unexpected(format!("country {code}: {e}")))
}

fn net_error(node: &RunningNode) -> impl FnOnce(crate::net::NetError) -> DemoError {
    let agency = node.app().me().to_string();
    move |source| DemoError::Net { agency, source }
}

/// Peers the nodes along [`LINKS`] and waits until every link is admitted.
pub(super) async fn connect(demo: &Demo) -> Result<(), DemoError> {
    for (dialer, listener) in LINKS {
        let (from, to) = (node(demo, dialer)?, node(demo, listener)?);
        let address = to
            .federation()
            .net()
            .listen_addrs()
            .await
            .map_err(net_error(to))?
            .into_iter()
            .next()
            .ok_or_else(|| DemoError::Unexpected(format!("{listener} listens nowhere")))?;
        let peer = agency(listener)?;
        // As `POST /admin/peers`: stored first, so a restart redials it, then dialled now.
        let stored = (peer.clone(), address.to_string());
        blocking(from, "storing a peer", move |app| {
            Ok(app.store().put_peer(&stored.0, &stored.1)?)
        })
        .await?;
        from.federation()
            .net()
            .add_peer(address, peer)
            .await
            .map_err(net_error(from))?;
    }
    // Admission is mutual, but each side records it when it verified the other: wait for both.
    for (dialer, listener) in LINKS {
        wait_admitted(node(demo, dialer)?, &agency(listener)?).await?;
        wait_admitted(node(demo, listener)?, &agency(dialer)?).await?;
    }
    Ok(())
}

/// Waits until `from` has admitted `peer` (woken by the node's change notifications: an
/// admission records the peer's certificate).
async fn wait_admitted(from: &RunningNode, peer: &AgencyId) -> Result<(), DemoError> {
    let mut changes = from.app().subscribe();
    let waited = tokio::time::timeout(WAIT, async {
        loop {
            let peers = from
                .federation()
                .net()
                .peers()
                .await
                .map_err(net_error(from))?;
            if peers
                .iter()
                .any(|p| p.agency.as_ref() == Some(peer) && p.state == PeerState::Admitted)
            {
                return Ok(());
            }
            if changes.changed().await.is_err() {
                return Err(DemoError::Unexpected(format!(
                    "{} stopped while connecting",
                    from.app().me()
                )));
            }
        }
    })
    .await;
    waited.unwrap_or_else(|_| {
        Err(DemoError::Timeout {
            what: format!("{} to admit {peer}", from.app().me()),
        })
    })
}

/// One agreement of the demo: the provider proposes, the recipient countersigns.
struct Offer {
    provider: &'static str,
    recipient: &'static str,
    template: templates::Template,
}

/// The standard agreements of a federation like the demo's.
fn offers() -> Result<Vec<Offer>, DemoError> {
    let offer = |provider, recipient, template| Offer {
        provider,
        recipient,
        template,
    };
    let mut offers = vec![
        // Each hotline forwards what is hosted in the other's country.
        offer(
            NL_HOTLINE,
            DE_HOTLINE,
            templates::forwarding(country("DE")?),
        ),
        offer(
            DE_HOTLINE,
            NL_HOTLINE,
            templates::forwarding(country("NL")?),
        ),
        // Both contribute illegal media to INTERPOL's ICSE collection.
        offer(NL_HOTLINE, INTERPOL, templates::icse_contribution()),
        offer(DE_HOTLINE, INTERPOL, templates::icse_contribution()),
        // The NL police see what is hosted in NL, hashes only.
        offer(
            NL_HOTLINE,
            NL_POLICE,
            templates::national_access(
                country("NL")?,
                vec![Classification::Baseline, Classification::NationallyIllegal],
            ),
        ),
    ];
    for (member, member_country) in [(NL_HOTLINE, "NL"), (DE_HOTLINE, "DE"), (NL_POLICE, "NL")] {
        offers.push(offer(
            INTERPOL,
            member,
            templates::hash_list_subscription(vec![country(member_country)?]),
        ));
        offers.push(offer(INTERPOL, member, templates::iwol_subscription()));
        offers.push(offer(member, INTERPOL, templates::iwol_contribution()));
    }
    Ok(offers)
}

fn random_id() -> Result<[u8; 16], DemoError> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| DemoError::Pki(format!("no randomness: {e}")))?;
    Ok(id)
}

fn state_of(app: &crate::app::App, id: &[u8; 16]) -> Option<AgreementState> {
    app.agreements().get(id).map(|entry| entry.state.clone())
}

/// Proposes `offer` at its provider, waits for the proposal at the recipient, countersigns it
/// there and waits until both hold it active.
async fn agree(demo: &Demo, offer: Offer) -> Result<(), DemoError> {
    let provider = node(demo, offer.provider)?;
    let recipient = node(demo, offer.recipient)?;
    let now = provider.app().now();
    let id = random_id()?;
    let terms = AgreementTerms {
        agreement_id: id,
        provider: provider.app().me().clone(),
        recipient: recipient.app().me().clone(),
        scope: offer.template.scope,
        valid_from: now,
        valid_until: Timestamp(now.0.saturating_add(AGREEMENT_DAYS * 86_400_000)),
    };
    let what = format!(
        "agreement {} ({}: {} to {})",
        hex::encode(id),
        offer.template.name,
        offer.provider,
        offer.recipient
    );
    tracing::info!("{what}: proposing");
    let by = actor()?;
    let target = what.clone();
    let (_, committed) = blocking(provider, "proposing an agreement", move |app| {
        app.audit(&by, AuditAction::AgreementPropose, &target, None, None)?;
        app.propose_agreement(terms)
    })
    .await?;
    provider.federation().committed(committed).await;
    wait_for(recipient, &format!("the proposal of {what}"), |app| {
        Ok(matches!(
            state_of(app, &id),
            Some(AgreementState::Pending { awaiting }) if &awaiting == app.me()
        ))
    })
    .await?;
    let by = actor()?;
    let target = format!("agreement {}", hex::encode(id));
    let (_, committed) = blocking(recipient, "accepting an agreement", move |app| {
        app.audit(&by, AuditAction::AgreementAccept, &target, None, None)?;
        app.accept_agreement(&id)
    })
    .await?;
    recipient.federation().committed(committed).await;
    for side in [provider, recipient] {
        wait_for(side, &format!("{what} active"), |app| {
            Ok(state_of(app, &id) == Some(AgreementState::Active))
        })
        .await?;
    }
    Ok(())
}

/// Makes every standard agreement of the demo, one handshake after the other.
///
/// One at a time keeps the demo's order (and its log) the same on every run. (Running them
/// at once first showed a race in `App::refresh_agreements`, since fixed: two concurrent
/// rebuilds could swap in the older book last.)
pub(super) async fn agreements(demo: &Demo) -> Result<(), DemoError> {
    let offers = offers()?;
    let count = offers.len();
    for offer in offers {
        agree(demo, offer).await?;
    }
    tracing::info!(count, "demo agreements active");
    Ok(())
}

/// Adds every node's portal accounts with their demo passwords (see
/// [`super::setup::AGENCIES`]); the nodes hash passwords in parallel.
pub(super) async fn users(demo: &Demo) -> Result<(), DemoError> {
    try_join_all(demo.nodes().iter().map(|demo_node| async move {
        let users = demo_node.spec.users;
        let by = actor()?;
        blocking(&demo_node.node, "adding portal accounts", move |app| {
            for (name, roles) in users {
                app.add_user(&by, name, roles, false, Some(&demo_password(name)))?;
            }
            Ok(())
        })
        .await
    }))
    .await?;
    tracing::info!("demo portal accounts added");
    Ok(())
}
