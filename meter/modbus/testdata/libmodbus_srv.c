/* A Modbus server built on libmodbus, an independent implementation, for
 * the tests in libmodbus_test.go.
 *
 *   srv tcp REGFILE          listen on 127.0.0.1 (ephemeral port), print "port N"
 *   srv rtu DEVICE REGFILE   serve unit 1 on a serial port at 9600 8N1, print "ready"
 *
 * REGFILE has one register per line: "FUNCTION ADDRESS VALUE" (decimal),
 * FUNCTION 3 (holding) or 4 (input). Registers outside the map get libmodbus's
 * own exception 2 (illegal data address). */
#include <arpa/inet.h>
#include <errno.h>
#include <modbus.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: srv tcp REGFILE | srv rtu DEVICE REGFILE\n");
		return 2;
	}
	int rtu = strcmp(argv[1], "rtu") == 0;
	FILE *f = fopen(argv[rtu ? 3 : 2], "r");
	if (!f) {
		perror("regfile");
		return 1;
	}
	/* holding registers 0xFC00.., input registers 0..0x1FFF */
	modbus_mapping_t *mb = modbus_mapping_new_start_address(0, 0, 0, 0, 0xF000, 0x1000, 0, 0x2000);
	if (!mb) {
		fprintf(stderr, "mapping: %s\n", modbus_strerror(errno));
		return 1;
	}
	unsigned fn, addr, val;
	while (fscanf(f, "%u %u %u", &fn, &addr, &val) == 3) {
		if (fn == 3 && addr >= 0xF000 && addr < 0x10000)
			mb->tab_registers[addr - 0xF000] = (uint16_t)val;
		else if (fn == 4 && addr < 0x2000)
			mb->tab_input_registers[addr] = (uint16_t)val;
	}
	fclose(f);

	uint8_t query[MODBUS_TCP_MAX_ADU_LENGTH];
	if (rtu) {
		modbus_t *ctx = modbus_new_rtu(argv[2], 9600, 'N', 8, 1);
		if (!ctx || modbus_set_slave(ctx, 1) == -1 || modbus_connect(ctx) == -1) {
			fprintf(stderr, "rtu: %s\n", modbus_strerror(errno));
			return 1;
		}
		printf("ready\n");
		fflush(stdout);
		for (;;) {
			int rc = modbus_receive(ctx, query);
			if (rc > 0)
				modbus_reply(ctx, query, rc, mb);
			else if (rc == -1 && errno != EMBBADCRC && errno != ETIMEDOUT && errno != EMBBADDATA)
				return 0;
		}
	}
	modbus_t *ctx = modbus_new_tcp("127.0.0.1", 0);
	int ls = modbus_tcp_listen(ctx, 1);
	if (ls == -1) {
		fprintf(stderr, "listen: %s\n", modbus_strerror(errno));
		return 1;
	}
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	getsockname(ls, (struct sockaddr *)&sa, &len);
	printf("port %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	for (;;) {
		if (modbus_tcp_accept(ctx, &ls) == -1)
			return 1;
		for (;;) {
			int rc = modbus_receive(ctx, query);
			if (rc > 0)
				modbus_reply(ctx, query, rc, mb);
			else if (rc == -1)
				break;
		}
		modbus_close(ctx);
	}
}
