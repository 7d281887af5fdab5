//! Header field names: the RFC 3261 §20 set and the extensions Switchboard reads, with compact forms.

use std::fmt;

use bytestring::ByteString;

macro_rules! header_names {
    ($( $variant:ident => $canon:literal $(, $compact:literal)? ; )*) => {
        /// A header field name. Known names compare case-insensitively; others keep their spelling.
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum HeaderName {
            $(
                #[doc = concat!("`", $canon, "`")]
                $variant,
            )*
            /// Any other header, spelled as received.
            Extension(ByteString),
        }

        impl HeaderName {
            /// The canonical spelling.
            pub fn as_str(&self) -> &str {
                match self {
                    $( HeaderName::$variant => $canon, )*
                    HeaderName::Extension(s) => s,
                }
            }

            /// The canonical spelling of a known name; `"extension"` for others.
            pub fn canonical(&self) -> &'static str {
                match self {
                    $( HeaderName::$variant => $canon, )*
                    HeaderName::Extension(_) => "extension",
                }
            }

            /// Recognises a name in long or compact form.
            pub fn from_bytes(name: &[u8]) -> Option<HeaderName> {
                $(
                    if name.eq_ignore_ascii_case($canon.as_bytes()) $( || name.eq_ignore_ascii_case($compact.as_bytes()) )? {
                        return Some(HeaderName::$variant);
                    }
                )*
                None
            }
        }
    };
}

header_names! {
    Via => "Via", "v";
    From => "From", "f";
    To => "To", "t";
    CallId => "Call-ID", "i";
    CSeq => "CSeq";
    MaxForwards => "Max-Forwards";
    Contact => "Contact", "m";
    Route => "Route";
    RecordRoute => "Record-Route";
    Path => "Path";
    Expires => "Expires";
    MinExpires => "Min-Expires";
    ContentType => "Content-Type", "c";
    ContentLength => "Content-Length", "l";
    ContentEncoding => "Content-Encoding", "e";
    ContentDisposition => "Content-Disposition";
    ContentLanguage => "Content-Language";
    Accept => "Accept";
    AcceptEncoding => "Accept-Encoding";
    AcceptLanguage => "Accept-Language";
    Allow => "Allow";
    AllowEvents => "Allow-Events", "u";
    Supported => "Supported", "k";
    Require => "Require";
    ProxyRequire => "Proxy-Require";
    Unsupported => "Unsupported";
    WwwAuthenticate => "WWW-Authenticate";
    ProxyAuthenticate => "Proxy-Authenticate";
    Authorization => "Authorization";
    ProxyAuthorization => "Proxy-Authorization";
    AuthenticationInfo => "Authentication-Info";
    Event => "Event", "o";
    SubscriptionState => "Subscription-State";
    ReferTo => "Refer-To", "r";
    ReferredBy => "Referred-By", "b";
    Replaces => "Replaces";
    Reason => "Reason";
    RetryAfter => "Retry-After";
    Date => "Date";
    Timestamp => "Timestamp";
    UserAgent => "User-Agent";
    Server => "Server";
    Warning => "Warning";
    AlertInfo => "Alert-Info";
    CallInfo => "Call-Info";
    ErrorInfo => "Error-Info";
    InReplyTo => "In-Reply-To";
    MimeVersion => "MIME-Version";
    Organization => "Organization";
    Priority => "Priority";
    ReplyTo => "Reply-To";
    Subject => "Subject", "s";
    SessionExpires => "Session-Expires", "x";
}

impl HeaderName {
    /// Parses a name: a known one, or an extension spelled as given.
    pub fn new(name: &str) -> HeaderName {
        HeaderName::from_bytes(name.as_bytes())
            .unwrap_or_else(|| HeaderName::Extension(ByteString::from(name)))
    }

    /// Whether `other` names the same header (case-insensitive for extensions too).
    pub fn matches(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Extension(a), HeaderName::Extension(b)) => a.eq_ignore_ascii_case(b),
            _ => self == other,
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
