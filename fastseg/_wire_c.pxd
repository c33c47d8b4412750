# The numbers of the wire formats, named once for every compiled module (cimport them from here).
#
# Each name equals the one of the same name in fastseg/_wire.py (the TCP header and its
# options), fastseg/_enums.py (FLAG_X is Flags.X) or fastseg/capture/_common.py (link,
# IP and capture file formats); tests/test_wire_constants.py reads this file and checks
# that, so keep one "NAME = value" per line.  Values above a C int are written as
# unsigned literals in the extern block after the capture files.

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
    LINKTYPE_PPP = 9
    LINKTYPE_PPP_HDLC = 50
    LINKTYPE_RAW_12 = 12
    LINKTYPE_RAW_14 = 14
    LINKTYPE_RAW = 101
    LINKTYPE_LOOP = 108
    LINKTYPE_LINUX_SLL = 113
    LINKTYPE_IPV4 = 228
    LINKTYPE_IPV6 = 229
    LINKTYPE_IPOIB = 242
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
    IPOIB_HEADER_LEN = 44      # a 40-byte GRH or address, then RFC 4391's type and reserved
    IPOIB_TYPE = 40
    CHDLC_HEADER_LEN = 4       # Cisco HDLC: address, control, ethertype
    CHDLC_TYPE = 2
    CHDLC_UNICAST = 0x0F
    CHDLC_MULTICAST = 0x8F

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
    # Encapsulations opened (see _common): inner Ethernet, PPP, MPLS, PPPoE session.
    ETHERTYPE_TEB = 0x6558
    ETHERTYPE_PPP = 0x880B
    ETHERTYPE_MPLS = 0x8847
    ETHERTYPE_MPLS_MULTICAST = 0x8848
    ETHERTYPE_PPPOE_SESSION = 0x8864

    # IP protocol numbers.
    IPPROTO_HOPOPTS = 0
    IPPROTO_IPIP = 4
    IPPROTO_TCP = 6
    IPPROTO_UDP = 17
    IPPROTO_IPV6 = 41
    IPPROTO_GRE = 47
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

# ---------------------------------------------------------------- frames and capture formats
# What fastseg/capture/_frames.pyx and _reader_c.pyx take apart, field by field.

# Codes shared with _common.LAYERS: which header a "header cut short" detail names.
cdef enum:
    LAYER_ETHERNET = 0
    LAYER_VLAN = 1
    LAYER_SLL = 2
    LAYER_SLL2 = 3
    LAYER_LOOPBACK = 4
    LAYER_IPV4 = 5
    LAYER_IPV6 = 6
    LAYER_IPV6_EXT = 7
    LAYER_TCP = 8
    LAYER_AH = 9
    LAYER_GRE = 10
    LAYER_VXLAN = 11
    LAYER_GENEVE = 12
    LAYER_MPLS = 13
    LAYER_PPPOE = 14
    LAYER_PPP = 15
    LAYER_IPOIB = 16
    LAYER_CHDLC = 17

# Encapsulations (RFC 1661, 1662, 2516, 2784, 2890, 2637, 3032, 7348, 8926; see _common).
cdef enum:
    MAX_ENCAPSULATIONS = 8     # opened one inside another before a frame is malformed
    PPP_PROTOCOL_LEN = 2
    PPP_PFC_BIT = 0x01         # a first protocol byte with it set is the whole field
    PPP_ADDRESS = 0xFF
    PPP_HDLC_LEN = 2
    PPP_IPV4 = 0x0021
    PPP_IPV6 = 0x0057
    PPPOE_HEADER_LEN = 6
    MPLS_LABEL_LEN = 4
    MPLS_BOTTOM = 2            # the byte holding the bottom-of-stack bit
    MPLS_BOTTOM_BIT = 0x01
    GRE_HEADER_LEN = 4
    GRE_PROTOCOL = 2
    GRE_FIELD_LEN = 4          # each of checksum (with reserved), key, sequence, ack
    GRE_CHECKSUM = 0x8000
    GRE_ROUTING = 0x4000
    GRE_KEY = 0x2000
    GRE_SEQUENCE = 0x1000
    GRE_ACK = 0x0080
    GRE_VERSION_MASK = 0x0007
    GRE_VERSION_PPTP = 1
    UDP_HEADER_LEN = 8
    UDP_SRC_PORT = 0
    UDP_DST_PORT = 2
    VXLAN_PORT = 4789
    VXLAN_HEADER_LEN = 8
    GENEVE_PORT = 6081
    GENEVE_HEADER_LEN = 8
    GENEVE_PROTOCOL = 2
    GENEVE_VERSION_SHIFT = 6
    GENEVE_OPT_LEN_MASK = 0x3F
    GENEVE_OPT_UNIT = 4

# The IP headers (RFC 791 §3.1, RFC 8200 §3-4, RFC 4302 §2).
cdef enum:
    IP_VERSION_SHIFT = 4       # the version is the first byte's high nibble
    IPV4_IHL_MASK = 0x0F       # the header length, its low nibble
    IHL_UNIT = 4               # header_len = IHL * IHL_UNIT
    IPV4_TOTAL_LEN = 2
    IPV4_FRAGMENT = 6          # flags and fragment offset, 16 bits
    IPV4_PROTOCOL = 9
    IPV4_SRC = 12
    IPV4_DST = 16
    IPV4_MORE_FRAGMENTS = 0x2000
    IPV4_FRAGMENT_OFFSET = 0x1FFF
    FRAGMENT_UNIT = 8          # fragment offsets count 8-octet units
    IPV6_PAYLOAD_LEN = 4
    IPV6_NEXT_HEADER = 6
    IPV6_SRC = 8
    IPV6_DST = 24

    # An extension header opens with its next header and its length, one byte each.
    EXT_NEXT_HEADER = 0
    EXT_LEN = 1
    EXT_HEAD_LEN = 2
    EXT_UNIT = 8               # size = (length + EXT_LEN_BIAS) * EXT_UNIT
    EXT_LEN_BIAS = 1
    AH_UNIT = 4                # AH: size = (length + AH_LEN_BIAS) * AH_UNIT
    AH_LEN_BIAS = 2

    # The fragment header: its offset (already in bytes under the mask) and M flag.
    IPV6_FRAGMENT_LEN = 8
    IPV6_FRAGMENT = 2
    IPV6_FRAGMENT_OFFSET = 0xFFF8
    IPV6_MORE_FRAGMENTS = 1

    # Hop-by-hop options (RFC 8200 §4.2): Pad1 alone, the others type, length, data.
    IPV6_OPT_PAD1 = 0
    IPV6_PAD1_LEN = 1
    IPV6_OPT_LEN = 1
    IPV6_OPT_HEAD_LEN = 2
    IPV6_OPT_JUMBO = 0xC2      # RFC 2675: a 32-bit payload length
    JUMBO_LEN = 4

    # The routing header: type and segments left, addresses after its first 8 bytes.
    ROUTING_TYPE = 2
    SEGMENTS_LEFT = 3
    ROUTING_ADDRESSES = 8
    ROUTING_RH0 = 0            # RFC 2460 §4.4, deprecated by RFC 5095
    ROUTING_HOME = 2           # RFC 6275 §6.4: one home address
    ROUTING_RPL = 3            # RFC 6554 §3
    ROUTING_SRH = 4            # RFC 8754 §2
    RPL_CMPR = 4               # CmprI in the high nibble, CmprE in the low one
    RPL_CMPRI_SHIFT = 4
    RPL_CMPRE_MASK = 0x0F
    RPL_PAD = 5                # Pad in the high nibble
    RPL_PAD_SHIFT = 4
    SRH_LAST_ENTRY = 4

# pcapng blocks, their fields and options.
cdef enum:
    # Blocks Wireshark numbers as frames without a packet (_common.PCAPNG_OTHER_FRAMES).
    PCAPNG_SYSTEMD_JOURNAL = 0x00000009
    PCAPNG_SYSDIG_EVENT = 0x00000204
    PCAPNG_SYSDIG_EVENT_V2 = 0x00000216
    PCAPNG_SYSDIG_EVENT_V2_LARGE = 0x00000221
    PCAPNG_CUSTOM_COPY = 0x00000BAD
    PCAPNG_CUSTOM_NO_COPY = 0x40000BAD

    # An interface description block: link type, reserved, snap length, then options.
    PCAPNG_IDB_OPTIONS = 8
    PCAPNG_OPTION_HEAD = 4     # code and length, 16 bits each; the value padded to 32 bits
    PCAPNG_OPT_END = 0
    PCAPNG_IF_TSRESOL = 9
    PCAPNG_TSRESOL_LEN = 1
    PCAPNG_TSRESOL_DEFAULT = 6  # microseconds
    PCAPNG_IF_TSOFFSET = 14
    PCAPNG_TSOFFSET_LEN = 8

    # Packet blocks: the simple one's original length, then its data; the enhanced (and
    # the obsolete) one's interface, timestamp, captured and original lengths, then data.
    PCAPNG_SPB_ORIG_LEN = 0
    PCAPNG_SPB_HEADER = 4
    PCAPNG_INTERFACE_ID = 0
    PCAPNG_TS_HIGH = 4
    PCAPNG_TS_LOW = 8
    PCAPNG_CAPTURED = 12
    PCAPNG_ORIG_LEN = 16
    PCAPNG_PACKET_HEADER = 20
