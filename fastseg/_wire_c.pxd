# The numbers of the wire formats, named once for every compiled module (cimport them from here).
#
# Each name equals the one of the same name in fastseg/_wire.py (the TCP header and its
# options), fastseg/_enums.py (FLAG_X is Flags.X) or fastseg/capture/_common.py (link,
# IP and capture file formats); tests/test_wire_constants.py reads this file and checks
# that, so keep one "NAME = value" per line.  Values above a C int are written as
# unsigned literals in the extern block at the end.

# ---------------------------------------------------------------- TCP header (RFC 9293 §3.1)

cdef enum:
    HEADER_LEN = 20
    MAX_HEADER_LEN = 60
    MAX_OPTIONS_LEN = 40
    OFFSET_UNIT = 4            # header_len = data offset * OFFSET_UNIT
    MIN_DATA_OFFSET = 5

    # Byte offsets of the fixed fields.
    SRC_PORT = 0
    DST_PORT = 2
    SEQ = 4
    ACK = 8
    DATA_OFFSET = 12
    WINDOW = 14
    CHECKSUM = 16
    URGENT = 18

    # The 16 bits at DATA_OFFSET: data offset (4), reserved (3), the 9 flag bits.
    FLAG_BITS = 0x1FF
    RESERVED_SHIFT = 9
    RESERVED_BITS = 0x7
    DATA_OFFSET_SHIFT = 12

    U8 = 0xFF
    U16 = 0xFFFF

# The control bits.
cdef enum:
    FLAG_FIN = 0x001
    FLAG_SYN = 0x002
    FLAG_RST = 0x004
    FLAG_PSH = 0x008
    FLAG_ACK = 0x010
    FLAG_URG = 0x020
    FLAG_ECE = 0x040
    FLAG_CWR = 0x080
    FLAG_AE = 0x100

# ---------------------------------------------------------------- TCP options

# Kinds (IANA "TCP Option Kind Numbers") and lengths (kind and length bytes included).
cdef enum:
    EOL = 0
    NOP = 1
    MSS = 2
    WSCALE = 3
    SACK_PERMITTED = 4
    SACK = 5
    TIMESTAMPS = 8

    OPTION_HEAD_LEN = 2        # kind, then length, one byte each
    OPTION_KIND = 0            # where the kind and the length lie in an option
    OPTION_LENGTH = 1
    KIND_LEN = 1               # EOL and NOP are the kind byte alone
    MAX_OPTION_LEN = 0xFF
    MAX_OPTION_DATA = 253
    MSS_LEN = 4
    WSCALE_LEN = 3
    SACK_PERMITTED_LEN = 2
    TIMESTAMPS_LEN = 10
    SACK_BLOCK_LEN = 8
    U32_LEN = 4                # TSval, TSecr and each SACK edge are 32-bit numbers
    MIN_SACK_LEN = 10
    MAX_SACK_BLOCKS = 31

# ---------------------------------------------------------------- links and IP

# Link-layer header types (https://www.tcpdump.org/linktypes.html).
cdef enum:
    LINKTYPE_NULL = 0
    LINKTYPE_ETHERNET = 1
    LINKTYPE_RAW_12 = 12
    LINKTYPE_RAW_14 = 14
    LINKTYPE_RAW = 101
    LINKTYPE_LOOP = 108
    LINKTYPE_LINUX_SLL = 113
    LINKTYPE_IPV4 = 228
    LINKTYPE_IPV6 = 229
    LINKTYPE_LINUX_SLL2 = 276

    # Link headers: their lengths, and where the ethertype lies in them.
    ETHERNET_HEADER_LEN = 14
    ETHERNET_TYPE = 12
    SLL_HEADER_LEN = 16
    SLL_TYPE = 14
    SLL2_HEADER_LEN = 20
    SLL2_TYPE = 0
    LOOPBACK_HEADER_LEN = 4
    VLAN_TAG_LEN = 4
    VLAN_TYPE = 2

    # BSD address families in NULL and LOOP headers (AF_INET6_* make up _common.AF_INET6).
    AF_INET = 2
    AF_INET6_BSD = 24
    AF_INET6_FREEBSD = 28
    AF_INET6_DARWIN = 30

    ETHERTYPE_IPV4 = 0x0800
    ETHERTYPE_IPV6 = 0x86DD
    # The VLAN tags walked over (they make up _common.ETHERTYPE_VLANS).
    ETHERTYPE_8021Q = 0x8100
    ETHERTYPE_8021AD = 0x88A8
    ETHERTYPE_QINQ = 0x9100

    # IP protocol numbers.
    IPPROTO_HOPOPTS = 0
    IPPROTO_TCP = 6
    IPPROTO_ROUTING = 43
    IPPROTO_FRAGMENT = 44
    IPPROTO_AH = 51
    IPPROTO_DSTOPTS = 60

    IPV4_VERSION = 4
    IPV6_VERSION = 6
    IPV4_HEADER_LEN = 20
    IPV6_HEADER_LEN = 40
    IPV4_ADDR_LEN = 4
    IPV6_ADDR_LEN = 16
    # The TCP pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1) for either IP version.
    PSEUDO_HEADER_IPV4 = 12
    PSEUDO_HEADER_IPV6 = 40
    PSEUDO_HEADER_MAX = 40
    # Its fields past the two addresses.
    PSEUDO_IPV4_ZERO = 8
    PSEUDO_IPV4_PROTOCOL = 9
    PSEUDO_IPV4_LENGTH = 10    # 16 bits
    PSEUDO_IPV6_LENGTH = 32    # 32 bits
    PSEUDO_IPV6_ZERO = 36      # three zero bytes
    PSEUDO_IPV6_NEXT_HEADER = 39
    # An IPv4-mapped IPv6 address: zeros, two 0xFF bytes from here, then the IPv4 address.
    IPV4_MAPPED_ONES = 10
    IPV4_MAPPED_ADDR = 12

# ---------------------------------------------------------------- capture files

cdef enum:
    PCAP_FILE_HEADER = 24      # the classic pcap global header
    PCAP_RECORD_HEADER = 16    # ts_sec, ts_frac, incl_len, orig_len
    PCAP_LINKTYPE = 20         # where the link type lies in the global header
    PCAP_LINKTYPE_MASK = 0x0FFFFFFF
    PCAP_TS_SEC = 0            # where the fields lie in a record header
    PCAP_TS_FRAC = 4
    PCAP_INCL_LEN = 8
    PCAP_ORIG_LEN = 12
    PCAPNG_SHB = 0x0A0D0D0A
    PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
    PCAPNG_IDB = 1
    PCAPNG_PB = 2
    PCAPNG_SPB = 3
    PCAPNG_EPB = 6
    # A block: type, total length, body, total length again.
    PCAPNG_BLOCK_LENGTH = 4
    PCAPNG_BLOCK_HEADER = 8
    PCAPNG_BLOCK_TRAILER = 4
    PCAPNG_BLOCK_ALIGN = 4
    PCAPNG_MIN_BLOCK = 12
    PCAPNG_SHB_BYTE_ORDER = 8  # a section header's byte-order magic opens its body
    PCAPNG_SHB_HEAD = 12       # the bytes that tell a section's byte order
    MAX_RECORD = 67108864

cdef extern from *:
    const unsigned int PCAP_MAGIC_USEC "0xA1B2C3D4U"
    const unsigned int PCAP_MAGIC_NSEC "0xA1B23C4DU"
