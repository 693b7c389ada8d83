//! Roles and operator scopes, and the rules for what satisfies what.

/// Who a connection is: an operator (CLI, apps, UI) or a node host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Operator,
    Node,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "operator" => Some(Role::Operator),
            "node" => Some(Role::Node),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Node => "node",
        }
    }
}

/// One operator scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Read,
    Write,
    Admin,
    Approvals,
    Pairing,
    Talk,
    Questions,
}

impl Scope {
    const ALL: [Scope; 7] = [
        Scope::Read,
        Scope::Write,
        Scope::Admin,
        Scope::Approvals,
        Scope::Pairing,
        Scope::Talk,
        Scope::Questions,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "operator.read",
            Scope::Write => "operator.write",
            Scope::Admin => "operator.admin",
            Scope::Approvals => "operator.approvals",
            Scope::Pairing => "operator.pairing",
            Scope::Talk => "operator.talk",
            Scope::Questions => "operator.questions",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// The scopes granted to a connection, as a bit set (one byte per connection).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    pub const NONE: Scopes = Scopes(0);

    /// Scopes as sent by the client; unknown names grant nothing.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Scopes {
        let mut set = Scopes::NONE;
        for scope in names.into_iter().filter_map(Scope::parse) {
            set.0 |= scope.bit();
        }
        set
    }

    pub fn with(mut self, scope: Scope) -> Scopes {
        self.0 |= scope.bit();
        self
    }

    pub fn contains_exactly(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// The names of the scopes in the set, in a fixed order.
    pub fn names(self) -> Vec<String> {
        Scope::ALL
            .into_iter()
            .filter(|s| self.contains_exactly(*s))
            .map(|s| s.as_str().to_owned())
            .collect()
    }

    /// `operator.admin` satisfies every scope; `operator.write` satisfies `operator.read`.
    pub fn satisfies(self, needed: Scope) -> bool {
        self.contains_exactly(Scope::Admin)
            || self.contains_exactly(needed)
            || (needed == Scope::Read && self.contains_exactly(Scope::Write))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_satisfies_everything_write_satisfies_read() {
        let admin = Scopes::from_names(["operator.admin"]);
        let write = Scopes::from_names(["operator.write"]);
        for scope in Scope::ALL {
            assert!(admin.satisfies(scope));
        }
        assert!(write.satisfies(Scope::Read));
        assert!(!write.satisfies(Scope::Pairing));
        assert!(!Scopes::NONE.satisfies(Scope::Read));
        assert!(!Scopes::from_names(["bogus"]).satisfies(Scope::Read));
    }
}
