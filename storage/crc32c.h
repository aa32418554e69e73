/* storage/crc32c.h moved to base/crc32c.h (the bottom layer); this forwarding header goes once
 * every include names the new place. */
#include "base/crc32c.h"
