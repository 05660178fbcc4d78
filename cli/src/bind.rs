//! `drydock bind` and `drydock unbind`: the host's binding policy, reported device by device.

use std::io::Write;

use drydock_admin::binding::owner::{self, Owner};
use drydock_admin::binding::{
    self, bind_one, BindOptions, BindOutcome, Plan, Reason, Step, UnbindOutcome, UserspaceDriver,
};
use drydock_admin::error::BindError;
use drydock_host::pci_id::canonical_address;
use drydock_host::sysfs::Sysfs;

use crate::args::{BindArgs, UnbindArgs};
use crate::output::line;
use crate::Failure;

/// Why a step is in the plan, for its line: nothing for a named device.
fn why(step: &Step) -> String {
    match &step.reason {
        Reason::Named => String::new(),
        Reason::GroupOf(named) => format!(" (IOMMU group of {named})"),
    }
}

/// Runs `drydock bind` (or, with `--dry-run`, says what it would do).
pub(crate) fn bind(
    sysfs: &Sysfs,
    args: &BindArgs,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<(), Failure> {
    let driver = UserspaceDriver::parse(&args.driver)?;
    let owner = match &args.user {
        Some(_) if driver != UserspaceDriver::VfioPci => {
            return Err(BindError::UserNeedsVfio {
                driver: driver.name().to_owned(),
            }
            .into())
        }
        Some(text) => Some(Owner::parse(text).map_err(BindError::from)?),
        None => None,
    };
    let options = BindOptions {
        force: args.force,
        group: args.group,
    };
    let plan = Plan::new(sysfs, &args.devices, driver, options)?;
    for note in &plan.notes {
        line(err, &format!("drydock: note: {note}"));
    }
    if args.dry_run {
        dry_run(sysfs, &plan, owner.as_ref(), out, err);
        return Ok(());
    }
    let mut taken = Vec::new();
    for step in &plan.steps {
        for used in &step.uses {
            line(
                err,
                &format!("drydock: taking {} anyway (--force): {used}", step.address),
            );
        }
        let outcome = bind_one(sysfs, &step.address, driver)?;
        let why = why(step);
        match outcome {
            BindOutcome::Already => line(
                out,
                &format!("{}: already bound to {driver}{why}", step.address),
            ),
            BindOutcome::Bound { from } => {
                line(
                    out,
                    &format!(
                        "{}: {} -> {driver}{why}",
                        step.address,
                        from.as_deref().unwrap_or("no driver")
                    ),
                );
                taken.push(step.address.clone());
            }
        }
        if let Some(owner) = &owner {
            for change in owner::hand_over(sysfs, &step.address, owner)? {
                line(out, &format!("{}: {change}", step.address));
            }
            if !taken.contains(&step.address) {
                taken.push(step.address.clone());
            }
        }
    }
    if !taken.is_empty() {
        line(
            out,
            &format!("give back with: drydock unbind {}", taken.join(" ")),
        );
    }
    Ok(())
}

/// Prints what carrying out `plan` would do: the module it would load, each device's move.
/// Nothing is changed.
fn dry_run(
    sysfs: &Sysfs,
    plan: &Plan,
    owner: Option<&Owner>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) {
    let driver = plan.driver;
    let moves = plan
        .steps
        .iter()
        .any(|s| s.driver.as_deref() != Some(driver.name()));
    if moves && !sysfs.driver_registered(driver.name()) {
        line(out, &format!("would load module {driver}"));
    }
    for step in &plan.steps {
        for used in &step.uses {
            line(
                err,
                &format!(
                    "drydock: would take {} anyway (--force): {used}",
                    step.address
                ),
            );
        }
        let why = why(step);
        let text = match step.driver.as_deref() {
            Some(current) if current == driver.name() => {
                format!("{}: already bound to {driver}{why}", step.address)
            }
            current => format!(
                "would bind {}: {} -> {driver}{why}",
                step.address,
                current.unwrap_or("no driver")
            ),
        };
        line(out, &text);
        if let Some(owner) = owner {
            line(
                out,
                &format!("would give {owner} the VFIO nodes of {}", step.address),
            );
        }
    }
    line(out, "dry run: nothing changed");
}

/// The devices `drydock unbind` gives back, in order, without repeats.
fn targets(sysfs: &Sysfs, args: &UnbindArgs) -> Result<Vec<String>, Failure> {
    let remembered = binding::remembered(sysfs)?;
    if args.all {
        let mut all: Vec<String> = remembered.into_iter().map(|(address, _)| address).collect();
        for address in owner::handed_over(sysfs)? {
            if !all.contains(&address) {
                all.push(address);
            }
        }
        return Ok(all);
    }
    let mut targets = Vec::new();
    for text in &args.devices {
        let address = canonical_address(text)?;
        sysfs.device(&address)?;
        let mut group_members = Vec::new();
        if args.group {
            if let Some(group) = sysfs.iommu_group(&address) {
                group_members = sysfs
                    .group_members(group)?
                    .into_iter()
                    .filter(|m| *m != address && remembered.iter().any(|(a, _)| a == m))
                    .collect();
            }
        }
        for target in std::iter::once(address).chain(group_members) {
            if !targets.contains(&target) {
                targets.push(target);
            }
        }
    }
    Ok(targets)
}

/// Runs `drydock unbind`.
pub(crate) fn unbind(sysfs: &Sysfs, args: &UnbindArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let targets = targets(sysfs, args)?;
    if targets.is_empty() {
        line(out, "nothing to give back: drydock holds no device");
    }
    for address in targets {
        for change in owner::give_back(sysfs, &address)? {
            line(out, &format!("{address}: {change}"));
        }
        let before = sysfs.driver(&address);
        let before = before.as_deref().unwrap_or("no driver");
        let text = match binding::unbind(sysfs, &address)? {
            UnbindOutcome::Restored(Some(driver)) if before == driver => {
                format!("{address}: already back on {driver}")
            }
            UnbindOutcome::Restored(Some(driver)) => format!("{address}: {before} -> {driver}"),
            UnbindOutcome::Restored(None) => {
                format!("{address}: {before} -> no driver (it had none before)")
            }
            UnbindOutcome::Reprobed(now) => format!(
                "{address}: {before} -> {} (no record of its driver: the kernel chose)",
                now.as_deref().unwrap_or("no driver")
            ),
            UnbindOutcome::NotOurs(driver) => {
                format!("{address}: left on {driver}, its kernel driver (drydock did not take it)")
            }
        };
        line(out, &text);
    }
    Ok(())
}
