//! Users and groups, as the system's password and group databases name them.
//!
//! A driver may run as a user other than root once that user owns the device's VFIO nodes
//! (`drydock bind --user NAME BDF`); the messages that say so name the user, and the bind looks
//! the name up. A user or group without a name is spelt as its number, which the lookups take
//! too, so a number works where the databases know nothing of it.

use nix::unistd::{Gid, Group, Uid, User};

use crate::error::HostError;

/// The name of user `uid`, or its number if the password database does not name it.
pub fn user_name(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => uid.to_string(),
    }
}

/// The name of the process's effective user (its number if it has none): the user a driver
/// started here runs as.
pub fn current_user() -> String {
    user_name(Uid::effective().as_raw())
}

/// The user `text` names, a name or a number, as (uid, its primary group's gid; `None` for a
/// number the password database does not know).
pub fn lookup_user(text: &str) -> Result<(u32, Option<u32>), HostError> {
    match User::from_name(text) {
        Ok(Some(user)) => Ok((user.uid.as_raw(), Some(user.gid.as_raw()))),
        _ => match text.parse::<u32>() {
            Ok(uid) => Ok((
                uid,
                User::from_uid(Uid::from_raw(uid))
                    .ok()
                    .flatten()
                    .map(|user| user.gid.as_raw()),
            )),
            Err(_) => Err(HostError::NoSuchUser {
                kind: "user",
                name: text.to_owned(),
            }),
        },
    }
}

/// The group `text` names, a name or a number, as its gid.
pub fn lookup_group(text: &str) -> Result<u32, HostError> {
    match Group::from_name(text) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        _ => text.parse::<u32>().map_err(|_| HostError::NoSuchUser {
            kind: "group",
            name: text.to_owned(),
        }),
    }
}

/// The name of group `gid`, or its number if the group database does not name it.
pub fn group_name(gid: u32) -> String {
    match Group::from_gid(Gid::from_raw(gid)) {
        Ok(Some(group)) => group.name,
        _ => gid.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_and_groups_are_found_by_name_or_number() {
        assert_eq!(lookup_user("root").unwrap(), (0, Some(0)));
        assert_eq!(user_name(0), "root");
        assert_eq!(lookup_group("0").unwrap(), 0);
        assert_eq!(group_name(0), "root");
        // A number nobody's database knows is still a user, spelt as its number.
        assert_eq!(lookup_user("3999999").unwrap().0, 3_999_999);
        assert_eq!(user_name(3_999_999), "3999999");
        let err = lookup_user("no-such-user-here").unwrap_err();
        assert!(
            err.to_string().contains("no user `no-such-user-here`"),
            "{err}"
        );
        assert!(lookup_group("no-such-group-here").is_err());
    }
}
