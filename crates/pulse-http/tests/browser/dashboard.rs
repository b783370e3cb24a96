//! The dashboard in Chromium, over an incident (`incident`): what an operator, a viewer and
//! another tenant's operator do and see, checked in the store, with axe-core on every page.

use std::time::Duration;

use pulse::{
    CommandDeadLetterStatus, DeadLetterEntry, DeadLetters, EntryFilter, ListQuery, SortOrder, TenantId,
};

use crate::driver::{Browser, By, JavaScript, Options, SameSite};
use crate::incident::{ADMIN, GLOBEX, Incident, OPERATOR, VIEWER};

/// Opens the dashboard, is sent to the sign-in page, and signs in with `token`.
async fn sign_in(browser: &Browser, incident: &Incident, token: &str) {
    browser.goto(&incident.page("")).await;
    browser.wait_for(By::Label("Access token")).await;
    assert!(browser.url().await.starts_with(&incident.page("sign-in?next=")), "{}", browser.url().await);
    browser.fill(By::Label("Access token"), token).await;
    browser.click(By::Button("Sign in")).await;
    // Only a signed-in page has the visitor's box.
    browser.wait_for(By::Css("header .who")).await;
    assert_eq!(browser.url().await, incident.page(""));
}

fn acme() -> TenantId {
    TenantId::new("acme").expect("a tenant")
}

/// The entries of `filter` in `dead_letters`' scope, newest first (at most 1000).
async fn entries(dead_letters: &DeadLetters, filter: EntryFilter) -> Vec<DeadLetterEntry> {
    let query = ListQuery::default().filter(filter).order(SortOrder::NewestFirst).limit(1000);
    dead_letters.list(query).await.expect("list").entries
}

fn of_type(command_type: &str, status: CommandDeadLetterStatus) -> EntryFilter {
    EntryFilter::default().command_type(command_type).statuses([status])
}

/// An operator of `acme` looks at the incident, dismisses one entry, replays a whole group with
/// a dry run first and follows it to the end, corrects a payload, and bookmarks a filter.
pub(crate) async fn an_operator_works_through_the_incident(incident: &Incident) {
    let acme_letters = incident.dead_letters.for_tenant(acme());
    let browser = Browser::open().await;
    sign_in(&browser, incident, OPERATOR).await;
    let cookie = browser.cookie("pulse_session").await.expect("a session cookie");
    assert!(cookie.http_only);
    assert_eq!(cookie.same_site, Some(SameSite::Strict));
    assert_eq!(cookie.path.as_deref(), Some("/pulse/ui"));

    // The overview: acme's unresolved count on the badge, the payment group the largest.
    let stats = acme_letters.statistics().await.unwrap();
    let badge = browser.text(By::Css(".unresolved")).await.replace(',', "");
    assert_eq!(badge, format!("{} unresolved", stats.new + stats.replaying));
    let largest = browser.text(By::Css("#largest ~ table tbody tr:first-child td:first-child a")).await;
    assert_eq!(largest, "PaymentDeclined");
    browser.assert_accessible("overview").await;

    // A group, then one of its entries.
    browser.click(By::LinkText("PaymentDeclined")).await;
    browser.wait_for(By::Css("#group-entries")).await;
    assert_eq!(browser.text(By::Css("h1")).await, "PaymentDeclined");
    assert!(browser.text(By::Css("dl.facts")).await.contains("card declined by issuer for order"));
    browser.assert_accessible("group").await;
    let newest = entries(&acme_letters, of_type("orders.place", CommandDeadLetterStatus::New)).await;
    browser.click(By::Css("#group-entries ~ table tbody tr:first-child a")).await;
    browser.wait_for(By::Css("#payload")).await;
    assert_eq!(browser.url().await, incident.page(&format!("entries/{}", newest[0].id)));
    assert!(
        browser.text(By::Css("#payload")).await.contains(&format!("\"order_id\": {}", order_id(&newest[0])))
    );
    browser.assert_accessible("entry").await;

    // Dismiss it with a note.
    browser.click(By::Css("#dismiss summary")).await;
    browser.fill(By::Label("Why (kept with the entry)"), "test order from the load test").await;
    browser.click(By::Button("Dismiss this entry")).await;
    browser.wait_for(By::Css(".notice")).await;
    assert_eq!(browser.text(By::Css(".notice")).await, "Dismissed.");
    let dismissed = acme_letters.get_entry(newest[0].id).await.unwrap().unwrap();
    assert_eq!(dismissed.status, CommandDeadLetterStatus::Dismissed);
    assert_eq!(dismissed.note.as_deref(), Some("test order from the load test"));
    assert_eq!(dismissed.changed_by.unwrap().as_str(), "olga");

    // Replay the stock group: a dry run first, then the request, followed to the end.
    let stock = entries(&acme_letters, of_type("stock.reserve", CommandDeadLetterStatus::New)).await;
    browser.goto(&incident.page("groups")).await;
    browser.click(By::LinkText("InventoryConflict")).await;
    browser.click(By::LinkText("Replay…")).await;
    browser.wait_for(By::Css("#dry-run")).await;
    let dry_run = browser.text(By::Css("#plan-summary")).await;
    assert_eq!(
        dry_run,
        format!(
            "{} New entries would replay (entries already waiting for a replay keep their place).",
            stock.len()
        )
    );
    assert_eq!(acme_letters.replay_requests(None, 10).await.unwrap().len(), 0, "a dry run requests nothing");
    browser.assert_accessible("bulk preview").await;
    browser.click(By::Button(&format!("Replay {} entries", stock.len()))).await;
    browser.wait_for(By::Css("[data-progress-url], [data-finished]")).await;
    browser.wait_until("document.querySelector('.percent').textContent === '100%'").await;
    for entry in &stock {
        let replayed = acme_letters.get_entry(entry.id).await.unwrap().unwrap();
        assert_eq!(replayed.status, CommandDeadLetterStatus::Resolved, "{replayed:?}");
    }
    assert_eq!(browser.text(By::Css("[data-summary]")).await, format!("{} replayed", stock.len()));
    browser.assert_accessible("request").await;

    // Correct a payload: a value the command does not take is refused beside the field.
    let order = &newest[1];
    browser.goto(&incident.page(&format!("entries/{}", order.id))).await;
    browser.click(By::LinkText("Edit payload")).await;
    browser
        .fill(By::Label("Payload"), r#"{"order_id":"forty-eight","amount_cents":2599,"currency":"EUR"}"#)
        .await;
    browser.click(By::Button("Save")).await;
    let error = browser.text(By::Css("#payload-error")).await;
    assert!(error.contains("invalid type: string \"forty-eight\", expected u64"), "{error}");
    assert_eq!(
        acme_letters.get_entry(order.id).await.unwrap().unwrap(),
        *order,
        "a refused edit changes nothing"
    );
    browser.assert_accessible("payload editor with an error").await;
    let corrected = format!(r#"{{"order_id":{},"amount_cents":2599,"currency":"EUR"}}"#, order_id(order));
    browser.fill(By::Label("Payload"), &corrected).await;
    browser.click(By::Button("Save and replay now")).await;
    browser.wait_for(By::Css(".notice")).await;
    assert_eq!(
        browser.text(By::Css(".notice")).await,
        "Replayed: the command ran and the entry is resolved."
    );
    let replayed = acme_letters.get_entry(order.id).await.unwrap().unwrap();
    assert_eq!(
        (replayed.status, replayed.payload.as_str()),
        (CommandDeadLetterStatus::Resolved, corrected.as_str())
    );
    assert_eq!(replayed.original_payload.as_deref(), Some(order.payload.as_str()));
    assert!(browser.text(By::Css(".diff")).await.contains("+   \"amount_cents\": 2599"));

    // Filters live in the URL: a reload, or a shared link, shows the same view.
    browser.goto(&incident.page("entries")).await;
    browser.click(By::Label("New")).await;
    browser.fill(By::Label("Command type"), "invoices.send").await;
    browser.select(By::Label("Order"), "oldest failure first").await;
    browser.click(By::Button("Apply")).await;
    browser.wait_until("location.search.includes('command_type=invoices.send')").await;
    let url = browser.url().await;
    assert!(url.starts_with(&incident.page("entries?status=new&command_type=invoices.send")), "{url}");
    assert!(url.contains("order=oldest"), "{url}");
    browser.goto(&url).await;
    browser.wait_for(By::Css("#results")).await;
    let filters = browser
        .script(
            "return [document.querySelector('input[name=status][value=new]').checked, \
                 document.getElementById('f-command_type').value, document.getElementById('f-order').value];",
        )
        .await;
    assert_eq!(filters, serde_json::json!([true, "invoices.send", "oldest"]));
    let invoices = entries(&acme_letters, of_type("invoices.send", CommandDeadLetterStatus::New)).await;
    let oldest = invoices.last().expect("New invoices");
    let first_row = browser.text(By::Css("#results ~ table tbody tr:first-child td:first-child")).await;
    assert_eq!(first_row, oldest.occurred_at.to_datetime().format("%Y-%m-%d %H:%M:%S UTC").to_string());
    browser.assert_accessible("entries").await;
    browser.close().await;
}

/// A viewer sees every page but no action; a forged action is refused and changes nothing.
pub(crate) async fn a_viewer_sees_no_actions(incident: &Incident) {
    let acme_letters = incident.dead_letters.for_tenant(acme());
    let entry = entries(&acme_letters, of_type("orders.place", CommandDeadLetterStatus::New)).await.remove(0);
    let browser = Browser::open().await;
    sign_in(&browser, incident, VIEWER).await;
    browser.goto(&incident.page(&format!("entries/{}", entry.id))).await;
    browser.wait_for(By::Css("#payload")).await;
    for action in ["Replay now", "Request replay", "Dismiss this entry", "Mark resolved"] {
        assert!(browser.find_all(By::Button(action)).await.is_empty(), "a viewer is offered {action:?}");
    }
    assert!(browser.find_all(By::LinkText("Edit payload")).await.is_empty());
    browser.goto(&incident.page("entries?status=new")).await;
    assert!(browser.find_all(By::LinkText("Replay…")).await.is_empty());

    // A form built by hand in the page, with the session's own CSRF token, is still refused.
    browser
        .script(&format!(
            "const form = document.createElement('form'); form.method = 'post'; \
             form.action = '{}'; \
             const csrf = document.createElement('input'); csrf.name = 'csrf'; \
             csrf.value = document.querySelector('input[name=csrf]').value; form.appendChild(csrf); \
             document.body.appendChild(form); form.submit(); return null;",
            incident.page(&format!("entries/{}/dismiss", entry.id))
        ))
        .await;
    browser.wait_for(By::Css(".error")).await;
    assert_eq!(browser.text(By::Css("h1")).await, "Forbidden");
    assert!(browser.text(By::Css(".error")).await.contains("victor has the viewer role"));
    assert_eq!(acme_letters.get_entry(entry.id).await.unwrap().unwrap(), entry);
    browser.close().await;
}

/// An operator of `globex` sees only globex's entries; acme's are not found.
pub(crate) async fn a_tenant_sees_only_its_own_entries(incident: &Incident) {
    let acme_entry =
        entries(&incident.dead_letters.for_tenant(acme()), EntryFilter::default()).await.remove(0);
    let browser = Browser::open().await;
    sign_in(&browser, incident, GLOBEX).await;
    let globex =
        incident.dead_letters.for_tenant(TenantId::new("globex").unwrap()).statistics().await.unwrap();
    let badge = browser.text(By::Css(".unresolved")).await.replace(',', "");
    assert_eq!(badge, format!("{} unresolved", globex.new + globex.replaying));
    browser.goto(&incident.page("entries")).await;
    let tenants = browser
        .script("return [...document.querySelectorAll('#results ~ table tbody tr td:last-child')].map(td => td.textContent);")
        .await;
    let tenants: Vec<String> = serde_json::from_value(tenants).unwrap();
    assert_eq!(tenants.len(), 50);
    assert!(tenants.iter().all(|tenant| tenant == "globex"), "{tenants:?}");
    browser.goto(&incident.page(&format!("entries/{}", acme_entry.id))).await;
    assert_eq!(browser.text(By::Css("h1")).await, "Not Found");
    browser.close().await;
}

/// With JavaScript off, an operator still signs in, filters, reads an entry and resolves it.
pub(crate) async fn pages_work_without_javascript(incident: &Incident) {
    let acme_letters = incident.dead_letters.for_tenant(acme());
    let entry =
        entries(&acme_letters, of_type("invoices.send", CommandDeadLetterStatus::New)).await.remove(0);
    let browser = Browser::open_with(Options { javascript: JavaScript::Off, ..Options::default() }).await;
    sign_in(&browser, incident, OPERATOR).await;
    browser.goto(&incident.page("entries")).await;
    browser.fill(By::Label("Command type"), "invoices.send").await;
    browser.click(By::Button("Apply")).await;
    browser
        .click(By::LinkText(&entry.occurred_at.to_datetime().format("%Y-%m-%d %H:%M:%S UTC").to_string()))
        .await;
    browser.click(By::Css("#resolve summary")).await;
    browser.fill(By::Label("What was done outside Pulse"), "resent from the mail queue").await;
    browser.click(By::Button("Mark resolved")).await;
    assert_eq!(browser.text(By::Css(".notice")).await, "Resolved.");
    let resolved = acme_letters.get_entry(entry.id).await.unwrap().unwrap();
    assert_eq!(
        (resolved.status, resolved.note.as_deref()),
        (CommandDeadLetterStatus::Resolved, Some("resent from the mail queue"))
    );
    browser.close().await;
}

/// Screenshots of each page at 1280×800, as an admin of every tenant sees the incident, for the
/// README and the guides; each page checked by axe-core as well.
pub(crate) async fn screenshots_of_each_page(incident: &Incident) {
    let browser = Browser::open().await;
    assert_eq!(browser.viewport().await, (1280, 800));
    browser.goto(&incident.page("sign-in")).await;
    browser.screenshot("sign-in").await;
    browser.assert_accessible("sign-in").await;
    sign_in(&browser, incident, ADMIN).await;

    // The carrier's failures replayed at 2 a second; 15 seconds later, 31 of 60 have run.
    browser.goto(&incident.page("bulk?action=replay&status=new&exception_type=CarrierUnavailable")).await;
    browser.fill(By::Label("Note (kept with each entry and the request)"), "DHL is back").await;
    browser.fill(By::Label("Pace: at most this many a second (empty for no limit)"), "2").await;
    browser.click(By::Button("Replay 60 entries")).await;
    browser.wait_for(By::Css("[data-progress-url]")).await;
    incident.clock.advance(Duration::from_secs(15));
    browser
        .wait_until("document.querySelector('[data-summary]').textContent === '31 replayed, 29 waiting'")
        .await;
    browser.screenshot("request").await;

    browser.goto(&incident.page("")).await;
    browser.wait_for(By::Css("#replays ~ table")).await;
    browser.screenshot("overview").await;
    browser.assert_accessible("overview, every tenant").await;

    browser.goto(&incident.page("requests")).await;
    browser.assert_accessible("replay requests").await;

    browser.goto(&incident.page("groups")).await;
    browser.screenshot("groups").await;
    browser.assert_accessible("error groups").await;
    browser.click(By::LinkText("PaymentDeclined")).await;
    browser.wait_for(By::Css("#group-entries")).await;
    browser.screenshot("group").await;
    browser.assert_accessible("group, every tenant").await;

    browser.goto(&incident.page("entries?status=new&exception_type=PaymentDeclined")).await;
    browser.screenshot("entries").await;
    browser.goto(&incident.page("entries/00000000-0000-7000-8000-000000000000")).await;
    assert_eq!(browser.text(By::Css("h1")).await, "Not Found");
    browser.assert_accessible("an error page").await;

    let ship =
        entries(&incident.dead_letters, of_type("orders.ship", CommandDeadLetterStatus::New)).await.remove(0);
    browser.goto(&incident.page(&format!("entries/{}", ship.id))).await;
    let version = browser.text(By::Css("#facts ~ dl")).await;
    assert!(version.contains("1; a replay upcasts it to version 2 first"), "{version}");
    browser.screenshot("entry").await;

    browser.goto(&incident.page("bulk?action=replay&status=new&exception_type=PaymentDeclined")).await;
    browser.wait_for(By::Css("#dry-run")).await;
    browser.screenshot("bulk").await;
    browser.assert_accessible("bulk preview, every tenant").await;
    browser.close().await;
}

/// The order id of a `PlaceOrder` entry.
fn order_id(entry: &DeadLetterEntry) -> u64 {
    let payload: serde_json::Value = serde_json::from_str(&entry.payload).unwrap();
    payload["order_id"].as_u64().unwrap()
}
